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
#include "server/engine/circuit_breaker.h"
#include "server/engine/participant_channel.h"
#include "storage/decision_log.h"

namespace settle::engine {

struct ParticipantHealth {
  absl::Time last_success = absl::InfinitePast();
  uint32_t consecutive_failures = 0;
  std::string last_error;
  // Open: the participant is taken for down; new payments that need it are refused and only
  // a probe now and then is sent (see CircuitBreaker).
  bool circuit_open = false;
};

struct ParticipantEntry {
  storage::ParticipantRecord record;
  ParticipantHealth health;
};

// The participants the coordinator can reach, persisted in the log, with each one's health and
// circuit breaker. Thread-safe. `log` and `factory` must outlive the registry.
class Registry final {
 public:
  Registry(storage::DecisionLog& log, ParticipantChannelFactory& factory,
           CircuitBreakerOptions breaker = CircuitBreakerOptions());
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Loads persisted registrations at start-up. DATA_LOSS if the log is damaged.
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);

  // Adds or re-points a participant, durably (a synced write), then runs `done` on the log's
  // writer thread; returns at once. INVALID_ARGUMENT for a bad name, or an endpoint the factory
  // refuses (the factory alone knows the endpoint forms); UNAVAILABLE if the log cannot be
  // written (nothing changed).
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
  // Whether the other branches of a transaction can call `name` directly (false if unknown).
  bool CallableByPeers(const std::string& name) const ABSL_LOCKS_EXCLUDED(mu_);
  // The registered endpoint of `name`; empty if unknown.
  std::string Endpoint(const std::string& name) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<ParticipantEntry> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether a new payment may use `name` now: OK, or UNAVAILABLE naming the participant while
  // its circuit is open (the caller retries later with the same idempotency key). While open,
  // one caller per probe interval is let through as the probe. NOT_FOUND if unknown.
  absl::Status Admit(const std::string& name, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a call (a delivery retry) to `name` should be made now; false while its circuit
  // is open and this is not the probe. True for an unknown name (the call reports NOT_FOUND).
  bool Allow(const std::string& name, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // The outcome of every call to a participant, for its health and its circuit breaker.
  void RecordSuccess(const std::string& name, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void RecordFailure(const std::string& name, const absl::Status& error, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Validates a participant name: 1..64 of [a-z0-9_-]. INVALID_ARGUMENT otherwise.
  static absl::Status ValidateName(const std::string& name);

 private:
  struct Slot {
    ParticipantEntry entry;
    std::shared_ptr<ParticipantChannel> channel;
    std::unique_ptr<CircuitBreaker> breaker;
  };

  storage::DecisionLog& log_;
  ParticipantChannelFactory& factory_;
  const CircuitBreakerOptions breaker_options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Slot> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_REGISTRY_H_
