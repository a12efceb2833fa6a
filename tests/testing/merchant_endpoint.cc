#include "tests/testing/merchant_endpoint.h"

#include <sys/socket.h>

#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "httplib.h"

namespace settle::testing {

MerchantEndpoint::MerchantEndpoint(std::string signing_key)
    : key_(std::move(signing_key)), server_(std::make_unique<httplib::Server>()) {
  server_->Post("/webhook", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string timestamp = req.get_header_value("Settle-Timestamp");
    const std::string signature = req.get_header_value("Settle-Signature");
    const std::string id = req.get_header_value("Settle-Event-Id");
    int64_t sent = 0;
    const bool fresh = absl::SimpleAtoi(timestamp, &sent) &&
                       std::llabs(absl::ToUnixSeconds(absl::Now()) - sent) <= 300;
    // The documented scheme, computed here from scratch: v1=hex(HMAC-SHA256(key, "<ts>.<body>")).
    const bool signed_well =
        fresh && crypto::ConstantTimeEquals(
                     signature, "v1=" + crypto::HmacSha256Hex(key_, timestamp + "." + req.body));
    absl::MutexLock lock(&mu_);
    ++requests_;
    if (!signed_well || id.empty()) {
      ++bad_signatures_;
      res.status = 401;
      return;
    }
    if (mode_ == Mode::kHang) {
      // Held unprocessed; the caller has timed out long before it is dropped.
      auto not_hanging = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return mode_ != Mode::kHang; };
      mu_.AwaitWithTimeout(absl::Condition(&not_hanging), absl::Seconds(30));
      res.status = 503;
      return;
    }
    if (mode_ != Mode::kOk) {
      res.status = 503;
      return;
    }
    ++accepted_[id];
    res.status = 200;
  });
  server_->set_tcp_nodelay(true);  // As real HTTP servers: no Nagle stall on small answers.
  // More threads than the notifier's concurrent POSTs (16), hanging ones included.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  // cpp-httplib listens with a backlog of 5, compiled into Debian's library: 8 concurrent
  // connects overflow it and SYNs are dropped and retried. Listening again raises it.
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](int fd) {
    httplib::default_socket_options(fd);
    listen_fd = fd;
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  server_->set_socket_options(httplib::default_socket_options);  // Drops the capture.
  if (listen_fd >= 0) ::listen(listen_fd, 128);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

MerchantEndpoint::~MerchantEndpoint() {
  SetMode(Mode::kFail);  // Releases hanging requests.
  server_->stop();
  thread_.join();
}

std::string MerchantEndpoint::url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/webhook");
}

std::vector<std::string> MerchantEndpoint::NotifierFlags(const std::string& dir) const {
  const std::string key_file = dir + "/webhook.key";
  std::ofstream(key_file) << key_ << "\n";
  return {"--webhook_url=" + url(), "--webhook_key_file=" + key_file};
}

void MerchantEndpoint::SetMode(Mode mode) {
  absl::MutexLock lock(&mu_);
  mode_ = mode;
}

std::map<std::string, int> MerchantEndpoint::Accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

int MerchantEndpoint::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int MerchantEndpoint::bad_signatures() const {
  absl::MutexLock lock(&mu_);
  return bad_signatures_;
}

}  // namespace settle::testing
