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

using testing::WaitFor;

TEST(StorageFaultTest, FullDiskFailsPaymentsCleanlyAndTheyResumeWithoutARestart) {
  testing::LocalStack stack;
  const std::string trigger = stack.dir() + "/disk-full";
  ASSERT_TRUE(stack.StartCoordinator({"--test_write_fault_trigger=" + trigger}).ok());
  for (const char* kind : {"balance", "ledger", "notification"}) {
    ASSERT_TRUE(stack.StartParticipant(kind, {"--in_doubt_after=1s",
                                              "--in_doubt_check_interval=200ms"})
                    .ok());
  }
  ASSERT_TRUE(stack.RegisterAll().ok());
  Bank bank(stack, BankOptions());
  ASSERT_TRUE(bank.Setup().ok());
  bank.Start();
  ASSERT_TRUE(WaitFor([&] { return bank.payments() > 20; }));

  std::ofstream(trigger) << "full";
  ASSERT_TRUE(WaitFor([&] { return !stack.CoordinatorServing(); }))
      << "health stayed SERVING while the log could not be written";
  // A payment started now cannot be decided: UNAVAILABLE (it is aborted wherever it prepared).
  client::RetryOptions once;
  once.max_attempts = 1;
  auto refused = stack.client().Execute(
      client::MakeTransfer("during-disk-full", "acct-0", "acct-1", 1), once);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  absl::SleepFor(absl::Seconds(1));  // The disk stays full this long, under load.
  const int64_t during = bank.payments();

  std::filesystem::remove(trigger);
  ASSERT_TRUE(WaitFor([&] { return stack.CoordinatorServing(); }))
      << "health did not return to SERVING once the disk worked";
  auto retried = stack.client().Execute(
      client::MakeTransfer("during-disk-full", "acct-0", "acct-1", 1));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->outcome(), v1::OUTCOME_COMMITTED);
  ASSERT_TRUE(WaitFor([&] { return bank.payments() > during + 20; }))
      << "payments did not resume after the disk recovered";

  bank.Stop();
  auto settled = bank.AwaitQuiescence(absl::Seconds(90));
  ASSERT_TRUE(settled.ok()) << settled.status();
  auto report = bank.Check();
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s\n", report->c_str());
}

TEST(StorageFaultTest, ParticipantFullDiskAbortsPaymentsAndTheyResumeWithoutARestart) {
  testing::LocalStack stack;
  const std::string trigger = stack.dir() + "/ledger-disk-full";
  ASSERT_TRUE(stack.StartCoordinator().ok());
  for (const char* kind : {"balance", "ledger", "notification"}) {
    std::vector<std::string> flags = {"--in_doubt_after=1s", "--in_doubt_check_interval=200ms"};
    if (std::string(kind) == "ledger") flags.push_back("--test_write_fault_trigger=" + trigger);
    ASSERT_TRUE(stack.StartParticipant(kind, flags).ok());
  }
  ASSERT_TRUE(stack.RegisterAll().ok());
  Bank bank(stack, BankOptions());
  ASSERT_TRUE(bank.Setup().ok());
  bank.Start();
  ASSERT_TRUE(WaitFor([&] { return bank.payments() > 20; }));

  std::ofstream(trigger) << "full";
  // The ledger cannot make a Prepare durable, so it cannot vote YES: the payment aborts.
  client::RetryOptions once;
  once.max_attempts = 1;
  ASSERT_TRUE(WaitFor([&] {
    auto r = stack.client().Execute(
        client::MakeTransfer(absl::StrCat("ledger-full-", absl::ToUnixMicros(absl::Now())),
                             "acct-0", "acct-1", 1),
        once);
    return r.ok() && r->outcome() == v1::OUTCOME_ABORTED;
  })) << "payments kept committing while the ledger could not write";
  absl::SleepFor(absl::Seconds(1));  // The disk stays full this long, under load.
  const int64_t during = bank.payments();

  std::filesystem::remove(trigger);
  ASSERT_TRUE(WaitFor([&] {
    auto r = stack.client().Execute(
        client::MakeTransfer(absl::StrCat("ledger-back-", absl::ToUnixMicros(absl::Now())),
                             "acct-0", "acct-1", 1),
        once);
    return r.ok() && r->outcome() == v1::OUTCOME_COMMITTED;
  })) << "payments did not commit again once the ledger's disk worked";
  ASSERT_TRUE(WaitFor([&] { return bank.payments() > during + 20; }))
      << "payments did not resume after the disk recovered";
  EXPECT_TRUE(stack.participant("ledger").Wait(absl::ZeroDuration()) == std::nullopt)
      << "the ledger exited instead of recovering in place";

  bank.Stop();
  auto settled = bank.AwaitQuiescence(absl::Seconds(90));
  ASSERT_TRUE(settled.ok()) << settled.status();
  auto report = bank.Check();
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s\n", report->c_str());
}

}  // namespace
}  // namespace settle::fault
