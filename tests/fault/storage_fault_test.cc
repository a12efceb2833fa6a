// A disk fails (every write and sync returns "no space") under load, then works again: at the
// coordinator, transactions end UNAVAILABLE or ABORTED with nothing half-written and health
// says NOT_SERVING meanwhile; at a participant, its branches cannot prepare, so payments abort.
// Either way payments succeed again without a restart, and the bank check holds.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fault/bank.h"

namespace settle::fault {
namespace {

using launch::WaitFor;

class StorageFaultTest : public ::testing::Test {
 protected:
  // Starts the stack, with the disk of `faulty` (the coordinator or a participant kind) failing
  // while `trigger` exists, and the bank's load.
  void StartUnderLoad(const std::string& faulty) {
    const std::string fault_flag = "--test_write_fault_trigger=" + trigger;
    std::vector<std::string> flags;
    if (faulty == "coordinator") flags.push_back(fault_flag);
    ASSERT_TRUE(stack.StartCoordinator(flags).ok());
    for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
      flags = {"--in_doubt_after=1s", "--in_doubt_check_interval=200ms"};
      if (faulty == kind) flags.push_back(fault_flag);
      ASSERT_TRUE(stack.StartParticipant(kind, flags).ok());
    }
    ASSERT_TRUE(stack.RegisterAll().ok());
    ASSERT_TRUE(bank.Setup().ok());
    bank.Start();
    ASSERT_TRUE(WaitFor([&] { return bank.payments() > 20; }));
  }

  launch::LocalStack stack;
  const std::string trigger = stack.dir() + "/disk-full";
  Bank bank{stack, MixedModes()};  // Transfers and card sagas.
};

TEST_F(StorageFaultTest, FullDiskFailsPaymentsCleanlyAndTheyResumeWithoutARestart) {
  StartUnderLoad("coordinator");
  if (HasFatalFailure()) return;

  std::ofstream(trigger) << "full";
  ASSERT_TRUE(WaitFor([&] { return !stack.CoordinatorServing(); }))
      << "health stayed SERVING while the log could not be written";
  // A payment started now cannot be decided: UNAVAILABLE (it is aborted wherever it prepared).
  client::RetryOptions once;
  once.max_attempts = 1;
  auto refused =
      stack.client().Execute(client::MakeTransfer("during-disk-full", "acct-0", "acct-1", 1), once);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  absl::SleepFor(absl::Seconds(1));  // The disk stays full this long, under load.
  const int64_t during = bank.payments();

  std::filesystem::remove(trigger);
  ASSERT_TRUE(WaitFor([&] { return stack.CoordinatorServing(); }))
      << "health did not return to SERVING once the disk worked";
  auto retried =
      stack.client().Execute(client::MakeTransfer("during-disk-full", "acct-0", "acct-1", 1));
  ASSERT_TRUE(retried.ok()) << retried.status();
  // Refused before it began (the store was reopening when its key was looked up), it runs now
  // and commits; begun, its decision could not be written, so the same key reads that ABORT.
  if (retried->replayed()) {
    EXPECT_EQ(retried->outcome(), v1::OUTCOME_ABORTED);
  } else {
    EXPECT_EQ(retried->outcome(), v1::OUTCOME_COMMITTED);
  }
  ASSERT_TRUE(WaitFor([&] { return bank.payments() > during + 20; }))
      << "payments did not resume after the disk recovered";

  auto report = bank.StopAndCheck(absl::Seconds(90));
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s\n", report->c_str());
}

TEST_F(StorageFaultTest, ParticipantFullDiskAbortsPaymentsAndTheyResumeWithoutARestart) {
  StartUnderLoad("ledger");
  if (HasFatalFailure()) return;

  std::ofstream(trigger) << "full";
  // The ledger cannot make a Prepare durable, so it cannot vote YES: the payment aborts.
  // A new payment, one attempt: does it end as `outcome`?
  auto new_payment_ends = [&](v1::Outcome outcome) {
    client::RetryOptions once;
    once.max_attempts = 1;
    auto r = stack.client().Execute(
        client::MakeTransfer(absl::StrCat("probe-", absl::ToUnixMicros(absl::Now())), "acct-0",
                             "acct-1", 1),
        once);
    return r.ok() && r->outcome() == outcome;
  };
  ASSERT_TRUE(WaitFor([&] { return new_payment_ends(v1::OUTCOME_ABORTED); }))
      << "payments kept committing while the ledger could not write";
  absl::SleepFor(absl::Seconds(1));  // The disk stays full this long, under load.
  const int64_t during = bank.payments();

  std::filesystem::remove(trigger);
  ASSERT_TRUE(WaitFor([&] { return new_payment_ends(v1::OUTCOME_COMMITTED); }))
      << "payments did not commit again once the ledger's disk worked";
  ASSERT_TRUE(WaitFor([&] { return bank.payments() > during + 20; }))
      << "payments did not resume after the disk recovered";
  EXPECT_TRUE(stack.participant("ledger").Wait(absl::ZeroDuration()) == std::nullopt)
      << "the ledger exited instead of recovering in place";

  auto report = bank.StopAndCheck(absl::Seconds(90));
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s\n", report->c_str());
}

}  // namespace
}  // namespace settle::fault
