#ifndef SETTLE_SERVER_ENGINE_AUDIT_TRAIL_H_
#define SETTLE_SERVER_ENGINE_AUDIT_TRAIL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/engine/clock.h"
#include "storage/decision_log.h"

namespace settle::engine {

// The operators' audit trail in the decision log: every command (abort, retry, resolve,
// register, deregister) is recorded and synced before it runs, so no command runs unrecorded,
// and its outcome is added once it has run. Run() is that sequence; the gRPC adapters only
// name the command and the caller. Kept past transaction retention (commands are few).
// Thread-safe; the log and the clock must outlive it.
class AuditTrail final {
 public:
  AuditTrail(storage::DecisionLog& log, const Clock& clock) : log_(log), clock_(clock) {}

  // One command as it starts.
  struct Command {
    std::string who;  // The identity the access check accepted ("" without roles).
    std::string on_behalf_of;
    std::string action;
    std::string target;
    std::string reason;
  };
  // A recorded command, to add its outcome to.
  struct Entry {
    std::string key;
    storage::AuditRecord record;
  };

  // A command's outcome, reported once.
  using Outcome = std::function<void(absl::Status)>;

  // Runs one operator command: records `command` (synced, even one the engine then refuses),
  // then `run(finish)` once the record is durable, on the log's thread; `run` calls `finish`
  // once with the outcome, which is added to the record and passed on to `done`. When the
  // record cannot be written `run` never runs and `done` gets UNAVAILABLE. Fields over 256
  // bytes are kept as a short echo: the engine refuses them itself, naming them.
  void Run(Command command, std::function<void(Outcome finish)> run, Outcome done);

  // The two steps of Run, for tests that look between them.
  // Records `command` (synced); `done` runs once it is durable, on any thread, and must not
  // block. UNAVAILABLE when the log cannot be written: the command must not run.
  void Record(const Command& command, std::function<void(absl::StatusOr<Entry>)> done);
  // Adds the outcome to `entry` (unsynced: a crash before it leaves the entry without one).
  void Finish(Entry entry, const absl::Status& outcome);

  // A page of entries, oldest first (newest first with `newest_first`), after `page_token` (""
  // from the start; a token continues the listing in the order it was given in);
  // `*next_page_token` is "" at the end. INVALID_ARGUMENT for a token this trail did not give
  // or a page size outside 1..1000.
  absl::StatusOr<std::vector<storage::AuditRecord>> List(const std::string& page_token,
                                                         int page_size, bool newest_first,
                                                         std::string* next_page_token) const;

 private:
  storage::DecisionLog& log_;
  const Clock& clock_;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_AUDIT_TRAIL_H_
