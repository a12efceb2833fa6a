#include "common/serving.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "google/protobuf/stubs/logging.h"

namespace settle {

void RouteProtobufLogs() {
  google::protobuf::SetLogHandler(+[](google::protobuf::LogLevel level, const char* filename,
                                      int line, const std::string& message) {
    const LogLevel ours = level >= google::protobuf::LOGLEVEL_ERROR     ? LogLevel::kError
                          : level == google::protobuf::LOGLEVEL_WARNING ? LogLevel::kWarning
                                                                        : LogLevel::kInfo;
    // The message may quote the bad input; Echo bounds and escapes it.
    Log(ours, "protobuf", {{"detail", Echo(message, 200)},
                           {"source", absl::StrCat(filename == nullptr ? "" : filename, ":", line)}});
  });
}

namespace {

// The registry, refreshed just before each scrape, each metric with the process's labels.
class RefreshingCollectable final : public prometheus::Collectable {
 public:
  RefreshingCollectable(std::shared_ptr<prometheus::Registry> registry,
                        std::function<void()> refresh, prometheus::Labels labels)
      : registry_(std::move(registry)), refresh_(std::move(refresh)), labels_(std::move(labels)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    if (refresh_) refresh_();
    std::vector<prometheus::MetricFamily> families = registry_->Collect();
    for (prometheus::MetricFamily& family : families) {
      for (prometheus::ClientMetric& metric : family.metric) {
        for (const auto& [name, value] : labels_) metric.label.push_back({name, value});
      }
    }
    return families;
  }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::function<void()> refresh_;
  const prometheus::Labels labels_;
};

}  // namespace

MetricsEndpoint StartMetrics(const std::string& listen,
                             const std::shared_ptr<prometheus::Registry>& registry,
                             std::function<void()> before_scrape,
                             prometheus::Labels process_labels) {
  MetricsEndpoint out;
  if (listen.empty()) return out;
  out.exposer = std::make_unique<prometheus::Exposer>(listen);
  out.collectable = std::make_shared<RefreshingCollectable>(registry, std::move(before_scrape),
                                                            std::move(process_labels));
  out.exposer->RegisterCollectable(out.collectable);
  out.port = out.exposer->GetListeningPorts().front();
  return out;
}

void WritePortFile(const std::string& path, const std::vector<int>& ports) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    for (int p : ports) out << p << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace settle
