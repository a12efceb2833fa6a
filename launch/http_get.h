#ifndef SETTLE_LAUNCH_HTTP_GET_H_
#define SETTLE_LAUNCH_HTTP_GET_H_

#include <string>

namespace settle::launch {

// GET http://<host:port><path> over a plain socket, HTTP/1.0, loopback addresses only. Returns
// the body, or "" on any failure. For scraping /metrics and Prometheus's query API.
std::string HttpGet(const std::string& host_port, const std::string& path);

// Sum of every sample of metric `name` (any labels) in a Prometheus text exposition.
double MetricSum(const std::string& exposition, const std::string& name);

// The value of one series, e.g. `settle_outbox_depth` or `x_total{result="confirmed"}`, as
// <host:port>/metrics serves it now; -1 when it is absent or the scrape failed.
double MetricSample(const std::string& host_port, const std::string& series);

// A TCP port that was free a moment ago on 127.0.0.1, for servers that cannot report the port
// they bound (Prometheus).
int FreePort();

// A free port below the kernel's ephemeral range (32768 and up), for a server that must come
// back on the same port after a kill: an ephemeral port can be taken, while the server is
// down, as the source port of some client's reconnect attempt.
int FreeListenPort();

// Whether something accepts TCP connections on 127.0.0.1:`port` now.
bool AcceptsConnections(int port);

}  // namespace settle::launch

#endif  // SETTLE_LAUNCH_HTTP_GET_H_
