#include "participants/relay_metrics.h"

namespace settle::participants {

RelayMetrics::RelayMetrics(prometheus::Registry& registry, const std::string& target)
    : depth_(prometheus::BuildGauge()
                 .Name("settle_outbox_depth")
                 .Help("Committed messages in the outbox not yet confirmed by the broker.")
                 .Labels({{"target", target}})
                 .Register(registry)
                 .Add({})),
      oldest_age_(prometheus::BuildGauge()
                      .Name("settle_outbox_oldest_age_seconds")
                      .Help("Age of the oldest committed message not yet confirmed (0: none).")
                      .Labels({{"target", target}})
                      .Register(registry)
                      .Add({})),
      confirm_seconds_(
          prometheus::BuildHistogram()
              .Name("settle_outbox_publish_confirm_seconds")
              .Help("From publishing a batch to the broker's last confirm of it.")
              .Labels({{"target", target}})
              .Register(registry)
              .Add({},
                   prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                           0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
      publishes_(prometheus::BuildCounter()
                     .Name("settle_outbox_publishes_total")
                     .Help("Messages published, by result: confirmed, unconfirmed (nacked or "
                           "returned as unroutable; published again), failed (the broker was "
                           "lost before the confirm; published again).")
                     .Labels({{"target", target}})
                     .Register(registry)),
      confirmed_(publishes_.Add({{"result", "confirmed"}})),
      unconfirmed_(publishes_.Add({{"result", "unconfirmed"}})),
      failed_(publishes_.Add({{"result", "failed"}})),
      connected_(prometheus::BuildGauge()
                     .Name("settle_outbox_broker_connected")
                     .Help("1 while the relay holds a connection to the broker.")
                     .Labels({{"target", target}})
                     .Register(registry)
                     .Add({})) {}

void RelayMetrics::SetOutbox(double depth, absl::Duration oldest_age) {
  depth_.Set(depth);
  oldest_age_.Set(absl::ToDoubleSeconds(oldest_age));
}

void RelayMetrics::Round(int confirmed, int unconfirmed, absl::Duration latency) {
  confirmed_.Increment(confirmed);
  unconfirmed_.Increment(unconfirmed);
  confirm_seconds_.Observe(absl::ToDoubleSeconds(latency));
}

void RelayMetrics::Failed(int messages) { failed_.Increment(messages); }

void RelayMetrics::SetConnected(bool connected) { connected_.Set(connected ? 1 : 0); }

}  // namespace settle::participants
