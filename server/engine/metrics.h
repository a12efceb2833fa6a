#ifndef SETTLE_SERVER_ENGINE_METRICS_H_
#define SETTLE_SERVER_ENGINE_METRICS_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/engine/figures.h"
#include "server/engine/protocol.h"
#include "storage/decision_log.h"

namespace settle::engine {

// One family's children by their label values. Family::Add builds a label map, hashes it and
// takes the family's lock on every call: about 1 us, 16 times per transaction. The hot paths
// find their child here instead and build the labels only the first time. Thread-safe.
template <typename T>
class ChildCache final {
 public:
  explicit ChildCache(prometheus::Family<T>& family) : family_(family) {}
  prometheus::Family<T>& family() const { return family_; }
  // `key` names the label values; `labels()` builds them on a miss; `args` are Add's.
  template <typename MakeLabels, typename... Args>
  T& Get(const std::string& key, const MakeLabels& labels, const Args&... args)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    T*& child = children_[key];
    if (child == nullptr) child = &family_.Add(labels(), args...);
    return *child;
  }

 private:
  prometheus::Family<T>& family_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, T*> children_ ABSL_GUARDED_BY(mu_);  // Owned by family_.
};

// The coordinator's Prometheus metrics. Every label takes bounded values (mode, outcome, phase,
// registered participant, method, status code); never a transaction id or key.
// Thread-safe. The registry is shared with the HTTP exposer.
class Metrics final {
 public:
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A transaction reached its outcome (counted once, when decided).
  void Decided(Mode mode, bool committed);
  // Execute from request to reply, by result ("committed", "aborted" or a status code name).
  void ExecuteDone(const std::string& result, absl::Duration d);
  // "prepare" (begin to decision), "commit" / "abort" (decision to last acknowledgement).
  void Phase(const std::string& phase, absl::Duration d);
  void ParticipantRpc(const std::string& participant, const std::string& method,
                      absl::StatusCode code, absl::Duration d);
  void DecisionRetry(const std::string& participant, const std::string& method);
  void LogGroupWrite(const storage::GroupWriteStats& stats);
  void Recovered(const std::string& state);
  void RetentionRemoved(int n);
  void SetGauges(double in_flight, double in_doubt, double stuck, double needs_attention);
  void SetParticipantHealth(const std::string& participant, double consecutive_failures,
                            bool circuit_open);

  // Execute's totals so far, every result together (FigureHistory samples them).
  ExecuteTotals ExecuteTotalsNow() const;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  prometheus::Counter& TransactionsCounter(Mode mode, const std::string& outcome);
  prometheus::Histogram& ExecuteHistogram(const std::string& result);
  prometheus::Histogram& PhaseHistogram(const std::string& phase);
  prometheus::Histogram& LogWriteHistogram(bool synced);

  const std::shared_ptr<prometheus::Registry> registry_;
  ChildCache<prometheus::Counter> transactions_;
  ChildCache<prometheus::Histogram> execute_seconds_;
  ChildCache<prometheus::Histogram> phase_seconds_;
  ChildCache<prometheus::Counter> participant_rpcs_;
  ChildCache<prometheus::Histogram> participant_rpc_seconds_;
  prometheus::Family<prometheus::Counter>& retries_;
  ChildCache<prometheus::Histogram> log_write_seconds_;
  prometheus::Histogram& log_group_size_;
  prometheus::Family<prometheus::Counter>& recovered_;
  prometheus::Counter& retention_removed_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& in_doubt_;
  prometheus::Gauge& stuck_;
  prometheus::Gauge& needs_attention_;
  prometheus::Family<prometheus::Gauge>& participant_failures_;
  prometheus::Family<prometheus::Gauge>& participant_circuit_open_;
};

// The name of a status code as Prometheus labels and logs show it ("UNAVAILABLE").
std::string StatusCodeName(absl::StatusCode code);

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_METRICS_H_
