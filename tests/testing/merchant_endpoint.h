#ifndef SETTLE_TESTS_TESTING_MERCHANT_ENDPOINT_H_
#define SETTLE_TESTS_TESTING_MERCHANT_ENDPOINT_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace httplib {
class Server;
}

namespace settle::testing {

// A merchant's webhook endpoint on loopback (cpp-httplib), run by a test: it answers 200, fails
// with 503 or hangs on demand, and checks every request's signature (HMAC-SHA256 under the
// shared key, timestamp no older than 5 minutes) as a merchant would: a bad one gets 401 and is
// not accepted. Thread-safe.
class MerchantEndpoint final {
 public:
  enum class Mode {
    kOk,    // 200: accepted.
    kFail,  // 503, at once.
    // Holds each request unprocessed until the mode changes (or 30 s pass), then drops it with
    // 503: the caller has timed out, and the merchant never acted on it.
    kHang,
  };

  explicit MerchantEndpoint(std::string signing_key);
  ~MerchantEndpoint();
  MerchantEndpoint(const MerchantEndpoint&) = delete;
  MerchantEndpoint& operator=(const MerchantEndpoint&) = delete;

  std::string url() const;
  // The flags that make settle-notifier post here, signed with this endpoint's key (written to
  // `dir`/webhook.key).
  std::vector<std::string> NotifierFlags(const std::string& dir) const;
  void SetMode(Mode mode) ABSL_LOCKS_EXCLUDED(mu_);

  // Event ids (Settle-Event-Id) the merchant accepted, each with how often it did.
  std::map<std::string, int> Accepted() const ABSL_LOCKS_EXCLUDED(mu_);
  int requests() const ABSL_LOCKS_EXCLUDED(mu_);
  int bad_signatures() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::string key_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kOk;
  std::map<std::string, int> accepted_ ABSL_GUARDED_BY(mu_);
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  int bad_signatures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_MERCHANT_ENDPOINT_H_
