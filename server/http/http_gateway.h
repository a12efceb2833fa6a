#ifndef SETTLE_SERVER_HTTP_HTTP_GATEWAY_H_
#define SETTLE_SERVER_HTTP_HTTP_GATEWAY_H_

// The coordinator's HTTP/JSON port (--http_listen), for callers that cannot speak gRPC and for
// operators' tools: every method of the services below, mapped from the proto. A call is
//   POST /settle.v1.Coordinator/Execute   Content-Type: application/json
// with the request in protobuf's JSON mapping; the answer is the response in that mapping, or an
// error body {"code": 3, "status": "INVALID_ARGUMENT", "message": "..."} with the HTTP status
// grpc-gateway uses for that code. The call is made in process on the coordinator's own gRPC
// server, so its validation, statuses and audit are the gRPC ones; this port adds only the
// transport: TLS from the same files, the same access check (common/credentials.h
// AccessChecker) on the same table, the caller's identity passed on for the audit.
// GET /console/ serves the operator's console (console/, embedded in the binary), whose pages
// call the methods above from the browser under a strict Content-Security-Policy.
// cpp-httplib lives in this folder only (STYLE.md 11).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/credentials.h"
#include "grpcpp/server.h"

namespace settle::http {

struct HttpGatewayOptions {
  std::string listen;  // host:port; port 0 picks one.
  // Its TLS (server certificate and key; the CA when client certificates are required), roles
  // and tokens: the gRPC port's. Anything but loopback needs TLS and a roles file.
  TlsOptions tls;
  size_t max_body_bytes = 4 << 20;  // Larger bodies: 413.
  // The services it maps, by full name ("settle.v1.Coordinator"); others are 404.
  std::vector<std::string> services;
};

// Owns its listening thread and its handlers' threads. Start() and Stop() from one thread;
// the handlers run on its own.
class HttpGateway final {
 public:
  // INVALID_ARGUMENT naming the flag for a bad --http_listen, or for an address other than
  // loopback without TLS and a roles file (no port is ever open to the network without
  // authentication); UNAVAILABLE if it cannot listen. `server` must outlive the gateway.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(HttpGatewayOptions options,
                                                            grpc::Server& server);
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  int port() const { return port_; }
  // Stops listening and waits for the requests in flight.
  void Stop();

 private:
  struct State;
  explicit HttpGateway(std::unique_ptr<State> state, int port);
  std::unique_ptr<State> state_;
  int port_ = 0;
};

}  // namespace settle::http

#endif  // SETTLE_SERVER_HTTP_HTTP_GATEWAY_H_
