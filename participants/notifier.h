#ifndef SETTLE_PARTICIPANTS_NOTIFIER_H_
#define SETTLE_PARTICIPANTS_NOTIFIER_H_

// settle-notifier's core: turns consumed payment results into webhook deliveries and runs them
// on a retry schedule. No threads and no clock of its own: notifier_main.cc drives it, and
// tests drive it with chosen instants and a fake sender.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/idempotent_consumer.h"
#include "grpcpp/impl/codegen/service_type.h"
#include "messaging/webhook.h"
#include "prometheus/registry.h"
#include "settle/v1/reference.pb.h"
#include "storage/branch_store.h"

namespace settle::participants {

struct NotifierOptions {
  // The waits after the 1st, 2nd, ... failed attempt; one attempt more than there are waits,
  // then the delivery is dead. The default spreads 9 attempts over 15 h 42 min.
  std::vector<absl::Duration> retry_schedule = {
      absl::Seconds(30), absl::Minutes(2), absl::Minutes(10), absl::Minutes(30),
      absl::Hours(1),    absl::Hours(2),   absl::Hours(4),    absl::Hours(8)};
  // Each wait is spread uniformly over +-jitter of itself, so a merchant that comes back is not
  // hit by every retry in the same second.
  double jitter = 0.1;
  // Recipient -> webhook URL; "*" is the URL of every recipient not listed. A result for a
  // recipient with neither is dead at once (no URL), and shows so.
  std::map<std::string, std::string> webhooks;
  std::string signing_key;  // HMAC-SHA256 key of the Settle-Signature header. Required.
  int batch = 256;          // Deliveries posted together per round.
};

// Parses "30s,2m,10m" (absl durations, each > 0, non-decreasing) into a schedule.
absl::StatusOr<std::vector<absl::Duration>> ParseRetrySchedule(const std::string& text);
// Parses a webhooks file: one "RECIPIENT URL" per line ("*" for every other recipient); blank
// lines and lines starting with # are skipped. The message names the bad line.
absl::StatusOr<std::map<std::string, std::string>> ParseWebhooks(const std::string& text);

// The signature a merchant checks: HMAC-SHA256 under the shared key of "<timestamp>.<body>",
// hex, sent as "Settle-Signature: v1=<hex>" beside "Settle-Timestamp: <unix seconds>".
std::string WebhookSignature(const std::string& key, const std::string& timestamp,
                             const std::string& body);

// A delivery's state lives in the notifier's own store (records "dlv/<id>", due index
// "due/<micros>/<id>"), written in the same batch as the consumer's dedup record, so a result
// is recorded once however often the broker delivers it. Delivery to the merchant is at least
// once: a crash after a 2xx and before it is recorded posts it again, with the same
// Settle-Event-Id for the merchant to drop.
//
// Thread-safety: handler() runs on the store's writer thread; DeliverDueOnce() from one thread
// at a time; List/Resend from any thread. `store`, `sender` and `metrics` (may be null) must
// outlive it.
class Notifier final {
 public:
  Notifier(storage::BranchStore& store, messaging::WebhookSender& sender, NotifierOptions options,
           prometheus::Registry* metrics);
  ~Notifier();

  // The consumer's handler: records a delivery of the result, due now.
  sdk::MessageHandler& handler();
  // Counts results the consumer dropped as copies of ones already recorded (a republish or a
  // redelivery), for settle_notifier_duplicates_dropped_total.
  void CountDuplicates(int n);
  // Posts up to `batch` deliveries due at `now` and records each attempt: delivered, due again
  // after the schedule's next wait, or dead. Returns how many were attempted.
  absl::StatusOr<int> DeliverDueOnce(absl::Time now);
  // Makes a delivered or dead delivery due at `now` with the whole schedule again.
  absl::StatusOr<v1::Delivery> Resend(const std::string& id, absl::Time now);
  absl::StatusOr<v1::ListDeliveriesResponse> List(const v1::ListDeliveriesRequest& request) const;

 private:
  class Handler;
  struct Metrics;
  // Records each posted delivery's attempt and next step, and drops due keys that pointed at
  // nothing due, in one write.
  absl::Status RecordAttempts(const std::vector<std::string>& ids,
                              const std::vector<messaging::WebhookResult>& results,
                              const std::vector<std::string>& stale_due_keys, absl::Time now);

  storage::BranchStore& store_;
  messaging::WebhookSender& sender_;
  const NotifierOptions options_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<Metrics> metrics_;
};

// The NotifierAdmin gRPC service over `notifier` (which must outlive it).
std::unique_ptr<grpc::Service> MakeNotifierAdmin(Notifier& notifier);

}  // namespace settle::participants

#endif  // SETTLE_PARTICIPANTS_NOTIFIER_H_
