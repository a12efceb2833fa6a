#ifndef SETTLE_CLIENT_REVERSIBLE_SAGA_H_
#define SETTLE_CLIENT_REVERSIBLE_SAGA_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "client/participant_server.h"

namespace settle::sdk {

// Saga steps for a service that already has a BranchHandler and whose changes have an exact
// inverse (a credit and its debit, a journal entry and its reversal). The action is the
// handler's Prepare and Commit of the payload in one unit of work; the compensation is the same
// for `reverse(payload)`, under a mirror branch id (branch_id + kMirrorOffset) so that what the
// handler keys by branch (a message id) does not collide with the action's. A compensation the
// inverse cannot pass (the credited money was spent) is refused for good: the saga parks for an
// operator. Borrows `handler`, which must outlive it. Same threading as BranchHandler.
class ReversibleSaga final : public SagaHandler {
 public:
  static constexpr uint32_t kMirrorOffset = 1u << 20;
  using Reverse = std::function<absl::StatusOr<std::string>(const std::string& payload)>;

  ReversibleSaga(BranchHandler& handler, Reverse reverse)
      : handler_(handler), reverse_(std::move(reverse)) {}

  StepOutcome Act(const BranchContext& ctx, const std::string& payload,
                  storage::WorkView& view) override {
    return Apply(ctx, payload, view);
  }

  StepOutcome Compensate(const BranchContext& ctx, const std::string& payload,
                         storage::WorkView& view) override {
    absl::StatusOr<std::string> reversed = reverse_(payload);
    if (!reversed.ok()) return StepOutcome::Refused(std::string(reversed.status().message()));
    return Apply({ctx.txn_id, ctx.branch_id + kMirrorOffset}, *reversed, view);
  }

 private:
  // Prepare then Commit, in one unit: a refusal (or a Commit error) drops both.
  StepOutcome Apply(const BranchContext& ctx, const std::string& payload,
                    storage::WorkView& view) {
    Vote vote = handler_.Prepare(ctx, payload, view);
    if (!vote.yes) return StepOutcome::Refused(std::move(vote.reason));
    if (absl::Status s = handler_.Commit(ctx, payload, view); !s.ok()) {
      return StepOutcome::Refused(std::string(s.message()));
    }
    return StepOutcome::Done();
  }

  BranchHandler& handler_;
  const Reverse reverse_;
};

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_REVERSIBLE_SAGA_H_
