#ifndef SETTLE_TESTS_TESTING_HTTP_CLIENT_H_
#define SETTLE_TESTS_TESTING_HTTP_CLIENT_H_

// One HTTP request to the coordinator's HTTP/JSON port, as curl would make it (cpp-httplib).

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace settle::testing {

struct HttpRequest {
  std::string method = "POST";
  std::string path;
  std::string body;
  std::string content_type = "application/json";
  std::string token;  // Sent as "Authorization: Bearer <token>" when set.
  std::vector<std::pair<std::string, std::string>> headers;
  // HTTPS when ca_file is set: the server is verified against it; cert and key are the client
  // certificate, when given.
  std::string ca_file, cert_file, key_file;
  int read_timeout_ms = 30000;  // The client hangs up after it.
};

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection refused or reset).
  std::string body;
  std::map<std::string, std::string> headers;
};

// `endpoint` is host:port. A connection the server closes is an answer of status 0, never a
// SIGPIPE (this process ignores it from the first call on).
HttpAnswer SendHttp(const std::string& endpoint, const HttpRequest& request);

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_HTTP_CLIENT_H_
