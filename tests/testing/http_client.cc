#include "tests/testing/http_client.h"

#include <csignal>
#include <memory>

#include "httplib.h"

namespace settle::testing {

HttpAnswer SendHttp(const std::string& endpoint, const HttpRequest& request) {
  // OpenSSL writes through write(): to a connection the server closed, that raises SIGPIPE.
  static const bool ignored = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;
  (void)ignored;
  const size_t colon = endpoint.rfind(':');
  const std::string host = endpoint.substr(0, colon);
  const int port = std::stoi(endpoint.substr(colon + 1));
  std::unique_ptr<httplib::ClientImpl> client;
  if (request.ca_file.empty()) {
    client = std::make_unique<httplib::ClientImpl>(host, port);
  } else {
    auto tls =
        std::make_unique<httplib::SSLClient>(host, port, request.cert_file, request.key_file);
    tls->set_ca_cert_path(request.ca_file.c_str());
    tls->enable_server_certificate_verification(true);
    client = std::move(tls);
  }
  client->set_read_timeout(request.read_timeout_ms / 1000, (request.read_timeout_ms % 1000) * 1000);
  httplib::Headers headers;
  for (const auto& [k, v] : request.headers) headers.emplace(k, v);
  if (!request.token.empty()) headers.emplace("Authorization", "Bearer " + request.token);
  httplib::Result r =
      request.method == "GET"
          ? client->Get(request.path.c_str(), headers)
          : client->Post(request.path.c_str(), headers, request.body, request.content_type.c_str());
  HttpAnswer answer;
  if (!r) return answer;
  answer.status = r->status;
  answer.body = r->body;
  for (const auto& [k, v] : r->headers) answer.headers[k] = v;
  return answer;
}

}  // namespace settle::testing
