#ifndef SETTLE_SERVER_ENGINE_SAGA_H_
#define SETTLE_SERVER_ENGINE_SAGA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/engine/protocol.h"

namespace settle::engine {

// A saga: each branch is an action and its compensation at the same participant, for services
// that cannot hold a reservation (a card gateway charges at once and is undone by a refund).
// Branches are grouped in steps (BranchRecord.step, 0..n-1); steps run one after another, the
// branches of one step in parallel.
//
//   Start: begin record FORCED (an action may move money: the log must know of it first)
//     |
//     v
//   PREPARING, step k --every action of step k done--> step record, then step k+1's actions
//     |        (an action with no answer is repeated with backoff, up to a limit;
//     |         "in progress" is asked again, until the saga's timeout)  ... last step done
//     |                                                          |
//     | an action refused, out of attempts, or past the timeout  v
//     v                                                  COMMITTED record FORCED -> COMMITTED
//   COMPENSATING record FORCED (the caller hears ABORTED)
//     |  compensations of the newest step first; a step is done before the one below starts;
//     |  each repeated with capped backoff until done ("in progress" is asked again)
//     |----------------------------------------------------------> ABORTED (finish record)
//     | a compensation refused for good
//     v
//   NEEDS_ATTENTION (record forced) --operator retry--> COMPENSATING
//                                   --operator resolve (who, why logged)--> ABORTED
//
// Which branches a compensation covers: every branch of the steps that ran, except those whose
// action was refused by an explicit answer (the participant recorded that nothing happened).
// A branch whose action may or may not have happened (no answer) is compensated too: the
// participant's barrier makes a compensation before its action a tombstone, and refuses the
// action if it arrives later.
//
// Recovery (Resume): PREPARING -> the actions of the logged step not known done are sent again
// (participants apply an action once per transaction and branch); COMPENSATING -> the newest
// step with compensations left; NEEDS_ATTENTION -> stays parked. A record a crash lost only
// repeats calls, never skips one.
class Saga final : public Protocol {
 public:
  Saga(storage::TxnRecord record, const ProtocolOptions& options);
  // Steps run in order 0, 1, 2... without gaps; INVALID_ARGUMENT names the missing one.
  static absl::Status CheckSteps(Mode mode, const std::vector<BranchSpec>& branches);

  Actions Start(absl::Time now) override;
  Actions Resume(absl::Time now) override;
  Actions OnAnswer(uint32_t branch, Phase phase, const Answer& answer, absl::Time now) override;
  Actions OnWritten(RecordKind kind, const absl::Status& status, absl::Time now) override;
  absl::StatusOr<Actions> OnOperatorAbort(const std::string& reason, absl::Time now) override;
  absl::StatusOr<Actions> OnOperatorRetry(const std::string& who, const std::string& reason,
                                          absl::Time now) override;
  absl::StatusOr<Actions> OnOperatorResolve(const std::string& who, const std::string& reason,
                                            absl::Time now) override;
  Decision decision() const override;
  // Compensations carry the payload (what to refund), until the end.
  bool needs_payloads() const override { return !terminal(); }
  bool needs_attention() const override;

 private:
  Actions OnAction(uint32_t branch, const Answer& answer, absl::Time now);
  Actions OnCompensation(uint32_t branch, const Answer& answer, absl::Time now);
  // The actions of the current step not yet done.
  std::vector<SendAction> StepActions() const;
  bool StepDone() const;
  // The current step is done: log the next one (its actions go out once written), or COMMITTED.
  Actions Advance(absl::Time now);
  uint32_t last_step() const;
  // Starts compensating: `branch` failed (refused, or -1 for an operator) for `reason`.
  Actions StartCompensation(int branch, const std::string& reason, absl::Time now);
  bool NeedsCompensation(const storage::BranchRecord& b) const;
  // The compensations of the newest step that has any left; empty when none is left.
  std::vector<SendAction> NextCompensations() const;
  // After a compensation answered or an operator retried: the next calls, or the finish.
  Actions ContinueCompensating(absl::Time now);
  WriteAction RecordWrite(RecordKind kind, bool forced) const;

  const ProtocolOptions options_;
  std::vector<int> attempts_;  // Unanswered attempts of each branch's action.
  // A COMPENSATING record is being written: forward answers no longer move the saga.
  bool compensating_ = false;
  // The write in flight carries COMMITTED (state changes only once it is durable).
  bool committing_ = false;
  // Callers were told the COMPENSATING record failed once; it is being written again.
  bool told_failure_ = false;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_SAGA_H_
