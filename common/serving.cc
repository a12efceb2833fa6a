#include "common/serving.h"

#include <cstdio>
#include <fstream>

namespace settle {

MetricsEndpoint StartMetrics(const std::string& listen,
                             const std::shared_ptr<prometheus::Registry>& registry) {
  MetricsEndpoint out;
  if (listen.empty()) return out;
  out.exposer = std::make_unique<prometheus::Exposer>(listen);
  out.exposer->RegisterCollectable(registry);
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
