#ifndef SETTLE_CLIENT_PARTICIPANT_METRICS_H_
#define SETTLE_CLIENT_PARTICIPANT_METRICS_H_

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace settle::sdk {

// A participant's Prometheus metrics, labelled by bounded values only. Thread-safe.
class ParticipantMetrics final {
 public:
  explicit ParticipantMetrics(prometheus::Registry& registry);
  ParticipantMetrics(const ParticipantMetrics&) = delete;
  ParticipantMetrics& operator=(const ParticipantMetrics&) = delete;

  // What a Prepare / Commit / Abort did: "prepared", "refused", "committed", "aborted",
  // "tombstone" (Abort before Prepare) or "duplicate" (no effect the second time).
  void Branch(const std::string& effect);
  // An in-doubt branch asked the coordinator: "commit", "abort", "undecided" or "error".
  void DecisionQuery(const std::string& answer);
  void SetPrepared(double branches);
  void BarriersRemoved(int n);
  // A Batch call carrying `calls` calls (the empty probe included).
  void Batch(int calls);

 private:
  prometheus::Family<prometheus::Counter>& branches_;
  prometheus::Family<prometheus::Counter>& queries_;
  prometheus::Gauge& prepared_;
  prometheus::Counter& barriers_removed_;
  prometheus::Counter& batches_;
  prometheus::Counter& batched_calls_;
};

}  // namespace settle::sdk

#endif  // SETTLE_CLIENT_PARTICIPANT_METRICS_H_
