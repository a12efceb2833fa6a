#include "messaging/webhook.h"

#include <memory>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "curl/curl.h"

namespace settle::messaging {
namespace {

// curl_global_init is not thread-safe in every libcurl build: once per process.
void InitCurlOnce() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The merchant's answer body is not needed: discard it.
size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
};

}  // namespace

CurlWebhookSender::CurlWebhookSender(absl::Duration timeout) : timeout_(timeout) {
  InitCurlOnce();
}

std::vector<WebhookResult> CurlWebhookSender::PostAll(const std::vector<WebhookRequest>& requests) {
  std::vector<WebhookResult> results(requests.size());
  if (requests.empty()) return results;
  const absl::Time start = absl::Now();
  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi(curl_multi_init(),
                                                              curl_multi_cleanup);
  // A merchant gets at most 16 POSTs at once; the rest of the batch queues in libcurl.
  curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
  std::vector<std::unique_ptr<Transfer>> transfers;
  for (size_t i = 0; i < requests.size(); ++i) {
    const WebhookRequest& r = requests[i];
    auto t = std::make_unique<Transfer>();
    t->easy = curl_easy_init();
    t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    for (const auto& [name, value] : r.headers) {
      t->headers = curl_slist_append(t->headers, absl::StrCat(name, ": ", value).c_str());
    }
    curl_easy_setopt(t->easy, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout_)));
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);  // Timeouts without SIGALRM: threads.
    // One connection per POST, closed after it: an idle kept-alive connection would hold one of
    // the merchant's server threads for nothing while the rest of the batch waits.
    curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, reinterpret_cast<void*>(i));
    curl_multi_add_handle(multi.get(), t->easy);
    transfers.push_back(std::move(t));
  }
  int running = 0;
  do {
    curl_multi_perform(multi.get(), &running);
    while (true) {
      int queued = 0;
      CURLMsg* msg = curl_multi_info_read(multi.get(), &queued);
      if (msg == nullptr) break;
      if (msg->msg != CURLMSG_DONE) continue;
      void* index = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &index);
      const size_t i = reinterpret_cast<size_t>(index);
      WebhookResult& result = results[i];
      result.took = absl::Now() - start;
      if (msg->data.result != CURLE_OK) {
        const char* detail = transfers[i]->error[0] != '\0' ? transfers[i]->error
                                                             : curl_easy_strerror(msg->data.result);
        result.error = detail;
        continue;
      }
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      result.http_status = static_cast<int>(status);
      if (!result.delivered()) result.error = absl::StrCat("HTTP ", status);
    }
    if (running > 0) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
  } while (running > 0);
  for (auto& t : transfers) curl_multi_remove_handle(multi.get(), t->easy);
  return results;
}

}  // namespace settle::messaging
