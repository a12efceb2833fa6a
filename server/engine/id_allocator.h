#ifndef SETTLE_SERVER_ENGINE_ID_ALLOCATOR_H_
#define SETTLE_SERVER_ENGINE_ID_ALLOCATOR_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/clock.h"
#include "storage/decision_log.h"

namespace settle::engine {

// Issues transaction ids that grow with time and never repeat, across restarts too. Ids are
// issued only below a ceiling already durable in the log, reserved ahead of the counter: a
// restart starts past every id a crash may have lost (Prepares go out before the begin record
// is written), even if the clock stepped back meanwhile.
//
// Thread-safe. `log` and `clock` must outlive it.
class IdAllocator final {
 public:
  // Reserved this far ahead of the counter, renewed every kRenewInterval: Next finds an id
  // reserved unless the log has been unwritable for two seconds.
  static constexpr absl::Duration kReservation = absl::Seconds(3);
  static constexpr absl::Duration kRenewInterval = absl::Seconds(1);

  IdAllocator(std::string shard, storage::DecisionLog& log, const Clock& clock);

  // Start-up, before anything of the log is resumed: FAILED_PRECONDITION naming both shards
  // when another shard claimed the log (or, in a log older than claims, wrote its ids).
  absl::Status CheckOwner() const;
  // Start-up: the counter starts past the greatest id in the log and the last ceiling, then the
  // first reservation is written and waited for. DATA_LOSS for a malformed id in the log; a
  // failed reservation is only logged (Next answers nullopt until a renewal succeeds).
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);
  // nullopt while the next id is not below the reserved ceiling (the log cannot be written, or
  // the clock jumped ahead of the last reservation): call Reserve and refuse for now.
  std::optional<std::string> Next() ABSL_LOCKS_EXCLUDED(mu_);
  // Writes a new ceiling ahead of the counter (synced), unless one is being written.
  void Reserve() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  uint64_t NowMicros() const;

  const std::string shard_;
  storage::DecisionLog& log_;
  const Clock& clock_;
  absl::Mutex mu_;
  uint64_t last_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ceiling_ ABSL_GUARDED_BY(mu_) = 0;
  bool reserving_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_ID_ALLOCATOR_H_
