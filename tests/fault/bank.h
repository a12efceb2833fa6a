#ifndef SETTLE_TESTS_FAULT_BANK_H_
#define SETTLE_TESTS_FAULT_BANK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "launch/local_stack.h"

namespace settle::fault {

// The bank workload (after Jepsen's): accounts at balance with a known total; concurrent
// clients transfer between them through Execute with unique idempotency keys, retrying on
// UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED with the same key, as a payment API would.
struct BankOptions {
  int accounts = 16;
  int64_t opening_balance = 10000;
  int clients = 6;
  // Each client's pause after each payment. Zero: as fast as the stack answers. Tests whose
  // check drains a backlog at a slow consumer's pace (the notifier's webhook) bound it here.
  absl::Duration pause_between_payments = absl::ZeroDuration();
  absl::Duration txn_timeout = absl::Seconds(2);
  absl::Duration give_up_after = absl::Seconds(60);  // Per payment, across retries.
  // Notification participants (of the notification kind). Each payment's receipt goes to one of
  // them, chosen at random, or with `some_without_notification` possibly to none: a mix of
  // payments that do and do not need a given participant.
  std::vector<std::string> notifiers = {"notification"};
  bool some_without_notification = false;
  // Share of payments that are card payments (MODE_SAGA, client::MakeCardPayment) to one
  // merchant account, one in six with a declined card; needs the "gateway" participant
  // registered. The rest are transfers.
  double card_share = 0;
  // Share of the transfers run as MODE_THREE_PHASE (the rest MODE_TWO_PHASE).
  double three_phase_share = 0;
  // The notification participants publish to a broker and settle-notifier delivers each result
  // to a merchant: quiescence also waits until every message is published and delivered, and
  // Check() proves that the notifier acted on exactly the published messages, which are exactly
  // those of committed payments (and of a turned-back saga, its receipt and the reversal).
  bool broker = false;
  // With `broker`: the event ids the merchant accepted, each with how often. Check() proves it
  // got every delivery and nothing else; a notifier killed between a POST and its record may
  // have sent one twice (at least once, by contract): counted in the report, not a violation.
  std::function<std::map<std::string, int>()> merchant_accepted;
  // Idempotency keys are <key_prefix>-<client>-<n>: banks sharing one stack need their own.
  std::string key_prefix = "bank";
};

// The bank check with every mode: a quarter of its payments card sagas, the transfers a third
// three-phase, the rest two-phase.
inline BankOptions MixedModes() {
  BankOptions options;
  options.card_share = 0.25;
  options.three_phase_share = 0.33;
  return options;
}

// The bank's accounts at balance, and the merchant its card payments pay.
inline std::string Account(int i) { return absl::StrCat("acct-", i); }
inline constexpr char kMerchant[] = "merchant";

// One payment as its client saw it.
struct Payment {
  std::string notifier;  // Empty: the payment has no notification branch.
  bool card = false;      // A card payment (a saga); `declined`: with a card the gateway refuses.
  bool declined = false;
  // What Execute finally returned: "COMMITTED", "ABORTED", "UNKNOWN" (gave up on UNAVAILABLE or
  // DEADLINE_EXCEEDED) or "ERROR <status>".
  std::string outcome;
  std::string txn_id;  // When Execute answered.
  absl::StatusCode last_error = absl::StatusCode::kOk;  // The last failed attempt's code.
  int attempts = 0;
};

// What the clients saw. Thread-safe.
class Bank final {
 public:
  Bank(launch::LocalStack& stack, BankOptions options);
  ~Bank();

  // Opens the accounts (and with cards, the merchant's, and configures the gateway).
  absl::Status Setup();
  // Starts the clients; they run until Stop(). Started again, each client sends its payments
  // again from its first, the same keys with the same bodies (its draws are seeded by its
  // number): retries of every payment so far, then new ones.
  void Start();
  // Stops the clients once each finishes the payment it is on.
  void Stop();
  // One payment from the calling thread, retried like the clients' until it is answered or
  // given up; recorded like theirs. Not concurrently with itself.
  void PayOne();
  int64_t payments() const ABSL_LOCKS_EXCLUDED(mu_);
  // Every payment so far, by idempotency key.
  std::map<std::string, Payment> Payments() const ABSL_LOCKS_EXCLUDED(mu_);

  // After the faults stop and everything runs again: waits (up to `timeout`) until nothing is
  // active at the coordinator or prepared at a participant; returns how long that took.
  absl::StatusOr<absl::Duration> AwaitQuiescence(absl::Duration timeout);

  // Proves the invariants; returns what was checked, in numbers, or the first violations.
  absl::StatusOr<std::string> Check();

  // Stop(), AwaitQuiescence(timeout) and Check() in turn: the report ends with how long the
  // transactions took to settle once the faults healed.
  absl::StatusOr<std::string> StopAndCheck(absl::Duration timeout);

 private:
  void Client(int id);
  // Payment `n` of client `id`, its accounts and kind drawn from `rng`, until answered.
  void Pay(const client::SettleClient& client, std::mt19937_64& rng, int id, int n);

  launch::LocalStack& stack_;
  const BankOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> clients_;
  std::mt19937_64 one_rng_{4242};  // PayOne's.
  int one_count_ = 0;

  // The participants a payment may touch: balance, ledger and the notifiers.
  std::vector<std::string> Participants() const;
  // With a broker: every outbox message published and every one delivered by the notifier.
  // `why` (if given) says what is still missing.
  bool ResultsDelivered(std::string* why = nullptr) const;
  // With a broker: the notifier's deliveries and the merchant's receipts against `published`,
  // the ids ("<txn>/<branch>") of every message the outboxes hold for committed branches.
  // Returns the report's sentence.
  std::string CheckDeliveries(const std::set<std::string>& published,
                              const std::function<void(std::string)>& violate) const;

  mutable absl::Mutex mu_;
  std::map<std::string, Payment> payments_ ABSL_GUARDED_BY(mu_);  // By idempotency key.
};

}  // namespace settle::fault

#endif  // SETTLE_TESTS_FAULT_BANK_H_
