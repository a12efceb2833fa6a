#ifndef SETTLE_TESTS_FAULT_FAULT_TEST_H_
#define SETTLE_TESTS_FAULT_FAULT_TEST_H_

#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "launch/process.h"
#include "tests/fault/bank.h"

namespace settle::fault {

// What the bank fault tests share: a random seed, printed so that a failure can be replayed;
// random instants for the faults; a kill -9 that waits until the process is gone; and the bank
// check once the faults have healed.
class FaultTest : public ::testing::Test {
 protected:
  FaultTest() : seed_(static_cast<uint32_t>(absl::ToUnixNanos(absl::Now()))), rng_(seed_) {
    std::printf("random seed: %u\n", seed_);
  }

  // Participants ask GetDecision for a branch left prepared after 1 s, so that a test heals in
  // seconds.
  static std::vector<std::string> ParticipantFlags() {
    return {"--in_doubt_after=1s", "--in_doubt_check_interval=200ms"};
  }

  // The coordinator and the four reference participants, registered, and `bank`'s accounts
  // opened: where most fault tests start.
  static void StartBankStack(launch::LocalStack& stack, Bank& bank) {
    ASSERT_TRUE(stack.StartCoordinator().ok());
    for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
      ASSERT_TRUE(stack.StartParticipant(kind, ParticipantFlags()).ok());
    }
    ASSERT_TRUE(stack.RegisterAll().ok());
    ASSERT_TRUE(bank.Setup().ok());
  }

  // A random instant for the next fault. Not a wait for a condition: the faults are meant to
  // land anywhere.
  void PauseRandomly(int min_ms, int max_ms) {
    absl::SleepFor(absl::Milliseconds(min_ms + static_cast<int>(rng_() % (max_ms - min_ms))));
  }

  // A process killed in the middle of an fsync exits only once that I/O completes, which on a
  // busy shared disk can take seconds.
  static constexpr absl::Duration kReapTimeout = absl::Seconds(30);

  // kill -9, then waits until `p` is gone.
  static void Kill(launch::Process& p, const std::string& what) {
    p.Signal(SIGKILL);
    ASSERT_TRUE(p.Wait(kReapTimeout).has_value())
        << what << " was still running 30 s after SIGKILL";
  }

  // Stops the load, waits up to `timeout` for everything to finish, and proves the invariants.
  void HealAndCheck(Bank& bank, absl::Duration timeout) {
    auto report = bank.StopAndCheck(timeout);
    ASSERT_TRUE(report.ok()) << report.status() << " (seed " << seed_ << ")";
    std::printf("%s; %d faults\n", report->c_str(), faults_);
  }

  const uint32_t seed_;
  std::mt19937 rng_;
  int faults_ = 0;
};

}  // namespace settle::fault

#endif  // SETTLE_TESTS_FAULT_FAULT_TEST_H_
