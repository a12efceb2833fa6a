#ifndef SETTLE_SERVER_ENGINE_METRICS_H_
#define SETTLE_SERVER_ENGINE_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "storage/txn_log.h"

namespace settle::engine {

// The coordinator's Prometheus metrics. Every label takes bounded values (mode, outcome, phase,
// registered participant, method, status code); never a transaction id or key.
// Thread-safe. The registry is shared with the HTTP exposer.
class Metrics final {
 public:
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A transaction reached its outcome (counted once, when decided).
  void Decided(int mode, bool committed);
  // Execute from request to reply, by result ("committed", "aborted" or a status code name).
  void ExecuteDone(const std::string& result, absl::Duration d);
  // "prepare" (begin to decision), "commit" / "abort" (decision to last acknowledgement).
  void Phase(const std::string& phase, absl::Duration d);
  void ParticipantRpc(const std::string& participant, const std::string& method,
                      absl::StatusCode code, absl::Duration d);
  void DecisionRetry(const std::string& participant, const std::string& method);
  void LogGroupWrite(const storage::GroupWriteStats& stats);
  void Recovered(const std::string& state);
  void SetGauges(double in_flight, double in_doubt, double stuck);
  void SetParticipantFailures(const std::string& participant, double consecutive_failures);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& transactions_;
  prometheus::Family<prometheus::Histogram>& execute_seconds_;
  prometheus::Family<prometheus::Histogram>& phase_seconds_;
  prometheus::Family<prometheus::Counter>& participant_rpcs_;
  prometheus::Family<prometheus::Histogram>& participant_rpc_seconds_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Histogram>& log_write_seconds_;
  prometheus::Histogram& log_group_size_;
  prometheus::Family<prometheus::Counter>& recovered_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& in_doubt_;
  prometheus::Gauge& stuck_;
  prometheus::Family<prometheus::Gauge>& participant_failures_;
};

// The name of a status code as Prometheus labels and logs show it ("UNAVAILABLE").
std::string StatusCodeName(absl::StatusCode code);

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_METRICS_H_
