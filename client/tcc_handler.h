#ifndef SETTLE_CLIENT_TCC_HANDLER_H_
#define SETTLE_CLIENT_TCC_HANDLER_H_

// TCC (Try / Confirm / Cancel) under the names its users know. A TCC transaction is run by the
// coordinator as MODE_TWO_PHASE: Try is Prepare, Confirm is Commit, Cancel is Abort. What TCC
// frameworks make each service handle by hand (DTM's barrier, Seata's TCC fence), the SDK's
// barrier record does, in the same atomic write as the service's change:
//   - an empty Cancel (Cancel before any Try) leaves a tombstone; Cancel is not called;
//   - a hanging Try (a Try after its Cancel) is refused with a NO; Try is not called;
//   - a duplicated Confirm or Cancel has one effect; each is called at most once.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "client/participant_server.h"

namespace settle::sdk {

// A TCC service's business logic. The same rules as BranchHandler: each method runs on the
// store's writer thread, one call at a time, stages its changes through `view`, and must not
// block.
class TccHandler {
 public:
  virtual ~TccHandler() = default;
  // Check and reserve (freeze funds, hold stock). A NO's staged changes are dropped.
  virtual Vote Try(const BranchContext& ctx, const std::string& payload,
                   storage::WorkView& view) = 0;
  // Use what Try reserved. An error is retried by the coordinator until it succeeds.
  virtual absl::Status Confirm(const BranchContext& ctx, const std::string& payload,
                               storage::WorkView& view) = 0;
  // Release what Try reserved (only called after a Try that said YES).
  virtual absl::Status Cancel(const BranchContext& ctx, const std::string& payload,
                              storage::WorkView& view) = 0;
};

// Serves a TccHandler wherever the SDK takes a BranchHandler. Borrows `tcc`, which must outlive
// it. Thread-safe as the handler is.
class TccBranchHandler final : public BranchHandler {
 public:
  explicit TccBranchHandler(TccHandler& tcc) : tcc_(tcc) {}
  Vote Prepare(const BranchContext& ctx, const std::string& payload,
               storage::WorkView& view) override {
    return tcc_.Try(ctx, payload, view);
  }
  absl::Status Commit(const BranchContext& ctx, const std::string& payload,
                      storage::WorkView& view) override {
    return tcc_.Confirm(ctx, payload, view);
  }
  absl::Status Abort(const BranchContext& ctx, const std::string& payload,
                     storage::WorkView& view) override {
    return tcc_.Cancel(ctx, payload, view);
  }

 private:
  TccHandler& tcc_;
};

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_TCC_HANDLER_H_
