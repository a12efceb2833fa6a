#ifndef SETTLE_SERVER_ENGINE_REGISTRY_H_
#define SETTLE_SERVER_ENGINE_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/engine/participant_channel.h"
#include "storage/txn_log.h"

namespace settle::engine {

struct ParticipantHealth {
  absl::Time last_success = absl::InfinitePast();
  uint32_t consecutive_failures = 0;
  std::string last_error;
};

struct ParticipantEntry {
  storage::ParticipantRecord record;
  ParticipantHealth health;
};

// The participants the coordinator can reach, persisted in the log, with each one's health.
// Thread-safe. `log` and `factory` must outlive the registry.
class Registry final {
 public:
  Registry(storage::TxnLog& log, ParticipantChannelFactory& factory);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Loads persisted registrations at start-up. DATA_LOSS if the log is damaged.
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);

  // Adds or re-points a participant, durably (a synced write), then runs `done` on the log's
  // writer thread; returns at once. INVALID_ARGUMENT for a bad name or endpoint; UNAVAILABLE if
  // the log cannot be written (nothing changed).
  void Register(const std::string& name, const std::string& endpoint, absl::Time now,
                std::function<void(absl::StatusOr<ParticipantEntry>)> done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NOT_FOUND if unknown; UNAVAILABLE if the log cannot be written. The caller checks that no
  // active transaction still needs it. Returns at once; `done` as for Register.
  void Deregister(const std::string& name, std::function<void(absl::Status)> done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The channel for `name`; NOT_FOUND naming it if unknown.
  absl::StatusOr<std::shared_ptr<ParticipantChannel>> Channel(const std::string& name) const
      ABSL_LOCKS_EXCLUDED(mu_);
  bool Contains(const std::string& name) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<ParticipantEntry> List() const ABSL_LOCKS_EXCLUDED(mu_);

  void RecordSuccess(const std::string& name, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void RecordFailure(const std::string& name, const absl::Status& error)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Validates a participant name: 1..64 of [a-z0-9_-]. INVALID_ARGUMENT otherwise.
  static absl::Status ValidateName(const std::string& name);

 private:
  struct Slot {
    ParticipantEntry entry;
    std::shared_ptr<ParticipantChannel> channel;
  };

  storage::TxnLog& log_;
  ParticipantChannelFactory& factory_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Slot> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_REGISTRY_H_
