#ifndef SETTLE_COMMON_SERVING_H_
#define SETTLE_COMMON_SERVING_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace settle {

// What every server process does around its gRPC server: expose /metrics and report the ports
// it bound.
struct MetricsEndpoint {
  std::unique_ptr<prometheus::Exposer> exposer;  // Null when disabled.
  std::shared_ptr<prometheus::Collectable> collectable;  // What the exposer serves.
  int port = 0;
};

// Serves `registry` on `listen` (host:port, port 0 picks one); an empty `listen` disables it.
// `before_scrape`, if set, runs on the exposer's thread before each scrape reads the registry:
// gauges computed there are exact at scrape time instead of lagging a timer. It must be
// thread-safe and quick. `process_labels` are added to every metric (the coordinator's shard:
// one value per process, so they never grow the series count).
MetricsEndpoint StartMetrics(const std::string& listen,
                             const std::shared_ptr<prometheus::Registry>& registry,
                             std::function<void()> before_scrape = {},
                             prometheus::Labels process_labels = {});

// Sends protobuf's own log lines (for example a request that does not parse) through the JSON
// logger, as one escaped line each, instead of raw text on stderr. Call once at start-up.
void RouteProtobufLogs();

// Writes `ports`, one per line, to `path` atomically (write then rename), so a reader never
// sees a half-written file. Does nothing for an empty path.
void WritePortFile(const std::string& path, const std::vector<int>& ports);

}  // namespace settle

#endif  // SETTLE_COMMON_SERVING_H_
