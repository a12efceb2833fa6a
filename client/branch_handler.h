#ifndef SETTLE_CLIENT_BRANCH_HANDLER_H_
#define SETTLE_CLIENT_BRANCH_HANDLER_H_

// The handler contract of the participant SDK: what a service implements (its domain logic), and
// nothing of how the SDK serves it (participant_server.h) or where it keeps its state
// (storage/branch_store.h).

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "storage/branch_store.h"

namespace settle::sdk {

struct BranchContext {
  std::string txn_id;
  uint32_t branch_id = 0;
};

struct Vote {
  bool yes = false;
  std::string reason;  // With a NO: why, for a person.
  static Vote Yes() { return {true, ""}; }
  static Vote No(std::string reason) { return {false, std::move(reason)}; }
};

// A service's domain logic; the SDK does everything else (barrier, idempotency, tombstones,
// durability, in-doubt resolution).
//
// On RocksDB each method runs on the store's writer thread, one call at a time across the whole
// participant, so it may read-modify-write its state through `view` without locks; it stages
// changes through `view`, and the SDK writes them in the same atomic, synced WriteBatch as the
// branch's barrier record. It must not block. On PostgreSQL calls run concurrently, each in its
// own SQL transaction (READ COMMITTED) beside the barrier row: the handler writes through
// `view.sql()`, and row locks keep concurrent calls apart: a conditional UPDATE, or SELECT ...
// FOR UPDATE before the write, never a plain read then a write (`view.Get` locks what it reads,
// so the key-value view stays safe). Its effects take hold once per branch per phase;
// on PostgreSQL a call the database rolled back is run again, so it must not act outside the
// view.
class BranchHandler {
 public:
  virtual ~BranchHandler() = default;
  // Validate and reserve. A NO's staged changes are dropped.
  virtual Vote Prepare(const BranchContext& ctx, const std::string& payload,
                       storage::WorkView& view) = 0;
  // Apply what Prepare reserved. An error is returned to the coordinator, which retries.
  virtual absl::Status Commit(const BranchContext& ctx, const std::string& payload,
                              storage::WorkView& view) = 0;
  // Release what Prepare reserved (only called for a branch that voted YES).
  virtual absl::Status Abort(const BranchContext& ctx, const std::string& payload,
                             storage::WorkView& view) = 0;
};

// A saga step's answer (MODE_SAGA): see participant.proto's result contract.
struct StepOutcome {
  enum class Kind { kDone, kRefused, kInProgress };
  Kind kind = Kind::kDone;
  std::string reason;  // With kRefused: why, for a person.
  static StepOutcome Done() { return {Kind::kDone, ""}; }
  static StepOutcome Refused(std::string reason) { return {Kind::kRefused, std::move(reason)}; }
  static StepOutcome InProgress() { return {Kind::kInProgress, ""}; }
};

// A service's saga steps: an action that takes effect at once and its compensation. The SDK
// keeps the barrier: Act runs until it answers done or refused, once per branch; Compensate
// runs only for a branch whose action took effect or is in progress, until done; a Compensate
// before any Act leaves a tombstone and the later Act is refused without calling the handler.
// An answer in progress is asked again when the coordinator asks again (the handler looks up
// its own pending work, e.g. an asynchronous refund). Same threading and staging as
// BranchHandler; a refusal's staged changes are dropped.
class SagaHandler {
 public:
  virtual ~SagaHandler() = default;
  virtual StepOutcome Act(const BranchContext& ctx, const std::string& payload,
                          storage::WorkView& view) = 0;
  virtual StepOutcome Compensate(const BranchContext& ctx, const std::string& payload,
                                 storage::WorkView& view) = 0;
};

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_BRANCH_HANDLER_H_
