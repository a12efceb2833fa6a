#ifndef SETTLE_TESTS_FAULT_BANK_H_
#define SETTLE_TESTS_FAULT_BANK_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/testing/local_stack.h"

namespace settle::fault {

// The bank workload (after Jepsen's): accounts at balance with a known total; concurrent
// clients transfer between them through Execute with unique idempotency keys, retrying on
// UNAVAILABLE and DEADLINE_EXCEEDED with the same key, as a payment API would.
struct BankOptions {
  int accounts = 16;
  int64_t opening_balance = 10000;
  int clients = 6;
  absl::Duration txn_timeout = absl::Seconds(2);
  absl::Duration give_up_after = absl::Seconds(60);  // Per payment, across retries.
};

// What the clients saw. Thread-safe.
class Bank final {
 public:
  Bank(testing::LocalStack& stack, BankOptions options);
  ~Bank();

  // Opens the accounts.
  absl::Status Setup();
  // Starts the clients; they run until Stop().
  void Start();
  // Stops the clients once each finishes the payment it is on.
  void Stop();
  int64_t payments() const ABSL_LOCKS_EXCLUDED(mu_);

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

  testing::LocalStack& stack_;
  const BankOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> clients_;

  mutable absl::Mutex mu_;
  // Key -> what Execute finally returned: "COMMITTED", "ABORTED" or "UNKNOWN" (gave up).
  std::map<std::string, std::string> outcomes_ ABSL_GUARDED_BY(mu_);
  // Key -> transaction id, when Execute answered.
  std::map<std::string, std::string> ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::fault

#endif  // SETTLE_TESTS_FAULT_BANK_H_
