#ifndef SETTLE_PARTICIPANTS_RELAY_METRICS_H_
#define SETTLE_PARTICIPANTS_RELAY_METRICS_H_

#include <string>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace settle::participants {

// The outbox relay's Prometheus metrics (notification participant), exposed at zero from the
// start whether or not a broker is configured, labelled target="rabbitmq" or "kafka".
// Thread-safe.
class RelayMetrics final {
 public:
  RelayMetrics(prometheus::Registry& registry, const std::string& target);
  RelayMetrics(const RelayMetrics&) = delete;
  RelayMetrics& operator=(const RelayMetrics&) = delete;

  // The outbox after a round: committed messages not yet confirmed, and the age of the oldest.
  void SetOutbox(double depth, absl::Duration oldest_age);
  // One batch published and confirmed (or not) in `latency`.
  void Round(int confirmed, int unconfirmed, absl::Duration latency);
  // `messages` published in a round that failed on the broker (connection lost, refused, or no
  // confirm in time): they stay in the outbox.
  void Failed(int messages);
  void SetConnected(bool connected);

 private:
  prometheus::Gauge& depth_;
  prometheus::Gauge& oldest_age_;
  prometheus::Histogram& confirm_seconds_;
  prometheus::Family<prometheus::Counter>& publishes_;
  prometheus::Counter& confirmed_;
  prometheus::Counter& unconfirmed_;
  prometheus::Counter& failed_;
  prometheus::Gauge& connected_;
};

}  // namespace settle::participants

#endif  // SETTLE_PARTICIPANTS_RELAY_METRICS_H_
