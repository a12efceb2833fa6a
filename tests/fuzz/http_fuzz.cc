// libFuzzer: the HTTP/JSON port (server/http) as a browser or a hostile client reaches it. Each
// input is the raw bytes of one connection: request line, headers, body, as sent. The gateway
// runs over a gRPC server with no service behind it, so every request that gets through the
// port's own checks (path, method, Origin, content type, sizes, protobuf's JSON mapping of the
// request type) ends in UNIMPLEMENTED: the fuzzer reaches every check without a coordinator.
// The port must answer or close each connection, never crash or hang, and keep serving: every
// 64 inputs a well-formed request must get its answer.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server_builder.h"
#include "server/http/http_gateway.h"
#include "settle/v1/coordinator.pb.h"

namespace {

// Every call the gateway makes ends here: UNIMPLEMENTED, as from a server without the method.
class Unimplemented final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Refuse final : public grpc::ServerGenericBidiReactor {
     public:
      Refuse() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no service here")); }
      void OnDone() override { delete this; }
    };
    return new Refuse;
  }
};

struct Port {
  Unimplemented service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<settle::http::HttpGateway> gateway;
};

Port& ThePort() {
  static Port* port = [] {
    auto* p = new Port;
    // Links coordinator.proto into this binary: the gateway finds methods in the descriptor pool.
    (void)settle::v1::GetDecisionRequest::descriptor();
    grpc::ServerBuilder builder;  // No listening port: the gateway calls it in process.
    builder.RegisterCallbackGenericService(&p->service);
    p->server = builder.BuildAndStart();
    if (p->server == nullptr) std::abort();
    settle::http::HttpGatewayOptions options;
    options.listen = "127.0.0.1:0";
    options.max_body_bytes = 64 << 10;
    options.services = {"settle.v1.Coordinator", "settle.v1.Registry", "settle.v1.DecisionService"};
    auto started = settle::http::HttpGateway::Start(std::move(options), *p->server);
    if (!started.ok()) std::abort();
    p->gateway = *std::move(started);
    return p;
  }();
  return *port;
}

// Sends `bytes` on a new connection, half-closes it if asked and reads until the server closes
// (or 5 s pass, which is then a hang: the input fails).
std::string Exchange(const std::string& bytes, bool half_close) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(ThePort().gateway->port()));
  timeval five{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof(five));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    // libFuzzer's timers interrupt system calls: an interrupted connect goes on by itself.
    pollfd writable{fd, POLLOUT, 0};
    int error = errno;
    socklen_t len = sizeof(error);
    if (errno != EINTR || poll(&writable, 1, 5000) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
      std::fprintf(stderr, "the port refused a connection: %s\n", std::strerror(error));
      std::abort();
    }
  }
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // The server may close early (a request it refused).
    sent += static_cast<size_t>(n);
  }
  if (half_close) shutdown(fd, SHUT_WR);  // Nothing more comes: the server must not wait for it.
  std::string answer;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        std::fprintf(stderr, "the port neither answered nor closed within 5 s; so far: %s\n",
                     answer.c_str());
        std::abort();
      }
      break;  // Reset: closed.
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int inputs = 0;
  const std::string answer =
      Exchange(std::string(reinterpret_cast<const char*>(data), size), /*half_close=*/true);
  if (!answer.empty() && !absl::StartsWith(answer, "HTTP/1.1 ")) std::abort();
  if (++inputs % 64 == 0) {
    const std::string probe = Exchange(
        "POST /settle.v1.DecisionService/GetDecision HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        /*half_close=*/false);
    // Past the port's checks, the call reaches the empty server: UNIMPLEMENTED, mapped to 501.
    if (!absl::StartsWith(probe, "HTTP/1.1 501")) {
      std::fprintf(stderr, "the port no longer serves; its answer to a good request: %s\n",
                   probe.c_str());
      std::abort();
    }
  }
  return 0;
}
