#ifndef SETTLE_MESSAGING_WEBHOOK_H_
#define SETTLE_MESSAGING_WEBHOOK_H_

// HTTP webhooks through libcurl, behind a small interface of ours: the only file pair that
// includes libcurl (STYLE.md 11). settle-notifier posts payment results to merchants through it.

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace settle::messaging {

struct WebhookRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // Besides Content-Type: JSON.
  std::string body;
};

struct WebhookResult {
  int http_status = 0;  // 0 when no answer came (refused, reset, timed out).
  std::string error;    // Empty on a 2xx; otherwise why it failed, short.
  absl::Duration took;
  bool delivered() const { return http_status >= 200 && http_status < 300; }
};

// Posts webhooks. Implementations say what is thread-safe; the notifier calls one from one
// thread. Tests substitute their own.
class WebhookSender {
 public:
  virtual ~WebhookSender() = default;
  // Posts every request at once and returns when all have ended, one result per request in
  // order. No request takes longer than its timeout (connecting included).
  virtual std::vector<WebhookResult> PostAll(const std::vector<WebhookRequest>& requests) = 0;
};

// Concurrent POSTs with libcurl's multi interface: one thread, no pool, at most 16 at once to one
// host, each on its own connection; a merchant that hangs holds its own requests until
// `timeout`, not the others'. Redirects are not followed. Not thread-safe: one per thread.
class CurlWebhookSender final : public WebhookSender {
 public:
  explicit CurlWebhookSender(absl::Duration timeout);
  std::vector<WebhookResult> PostAll(const std::vector<WebhookRequest>& requests) override;

 private:
  const absl::Duration timeout_;
};

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_WEBHOOK_H_
