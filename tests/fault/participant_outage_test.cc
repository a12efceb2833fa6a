// Participants down for a long time under full load, with a mix of payments that need them and
// payments that do not. The ones that do not need them keep committing; the ones that do are
// refused at once (UNAVAILABLE naming the participant) instead of piling up as aborts waiting to
// be delivered; the coordinator's memory and active set stay bounded; once the participants are
// back the backlog drains and the bank check passes.

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/fault/bank.h"

namespace settle::fault {
namespace {

// The coordinator's retry cap in the local stack (--retry_max): while a participant is down it
// is probed at most once per this interval, and each probe can add at most one waiting payment.
constexpr absl::Duration kRetryCap = absl::Milliseconds(500);
constexpr int kCircuitThreshold = 5;  // The coordinator's default --circuit_failure_threshold.

int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // In kB.
  }
  return -1;
}

class ParticipantOutageTest : public ::testing::Test {
 protected:
  // The stack with `notifiers` notification services; payments go to one of them or to none.
  void StartStack(const std::vector<std::string>& notifiers) {
    options_.notifiers = notifiers;
    options_.some_without_notification = true;
    // A payment API moves on after a while; here, so that a client refused for a down
    // participant goes on to payments that may not need it.
    options_.give_up_after = absl::Seconds(1);
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    for (const char* kind : {"balance", "ledger"}) {
      ASSERT_TRUE(stack_.StartParticipant(kind, Flags()).ok());
    }
    for (const auto& name : notifiers) {
      ASSERT_TRUE(stack_.StartParticipantAs(name, "notification", Flags()).ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    bank_ = std::make_unique<Bank>(stack_, options_);
    ASSERT_TRUE(bank_->Setup().ok());
  }

  static std::vector<std::string> Flags() {
    return {"--in_doubt_after=1s", "--in_doubt_check_interval=200ms"};
  }

  // Kills `down` under load, keeps them down for `outage` while measuring, brings them back,
  // and proves the invariants.
  void RunOutage(const std::vector<std::string>& down, absl::Duration outage) {
    auto touches_down = [&](const Payment& p) {
      return std::find(down.begin(), down.end(), p.notifier) != down.end();
    };
    auto committed_elsewhere = [&] {
      int n = 0;
      for (const auto& [key, p] : bank_->Payments()) {
        n += !touches_down(p) && p.outcome == "COMMITTED";
      }
      return n;
    };
    bank_->Start();
    ASSERT_TRUE(launch::WaitFor([&] { return committed_elsewhere() >= 20; }));
    for (const auto& name : down) {
      stack_.participant(name).Signal(SIGKILL);
      ASSERT_TRUE(stack_.participant(name).Wait(absl::Seconds(30)).has_value());
    }
    const pid_t coordinator = stack_.coordinator().pid();
    const int64_t rss_start = ResidentBytes(coordinator);
    const int committed_before = committed_elsewhere();
    size_t max_active = 0;
    int64_t max_rss = rss_start;
    const absl::Time end = absl::Now() + outage;
    while (absl::Now() < end) {
      auto active = stack_.ActiveTransactions();
      ASSERT_TRUE(active.ok()) << active.status();
      max_active = std::max(max_active, active->size());
      max_rss = std::max(max_rss, ResidentBytes(coordinator));
      absl::SleepFor(absl::Seconds(1));  // The sampling cadence, not a wait for a condition.
    }
    const int committed_during = committed_elsewhere() - committed_before;
    for (const auto& name : down) {
      ASSERT_TRUE(stack_.StartParticipant(name, Flags()).ok());
    }
    auto report = bank_->StopAndCheck(absl::Seconds(120));
    ASSERT_TRUE(report.ok()) << report.status();

    int refused = 0, answered_elsewhere = 0;
    for (const auto& [key, p] : bank_->Payments()) {
      if (touches_down(p)) {
        refused += p.outcome == "UNKNOWN" && p.last_error == absl::StatusCode::kUnavailable;
        continue;
      }
      // Not needing a down participant, every payment was answered: never refused, never
      // left unknown, whatever the backlog of the others.
      EXPECT_TRUE(p.outcome == "COMMITTED" || p.outcome == "ABORTED")
          << key << " (no branch at a down participant) ended " << p.outcome;
      ++answered_elsewhere;
    }
    // Waiting payments: those being decided when the participants died (at most one per
    // client), those that failed before the circuits opened, and at most one per probe.
    const size_t bound = options_.clients + kCircuitThreshold * down.size() +
                         down.size() * static_cast<size_t>(outage / kRetryCap) + 10;
    std::printf(
        "%s down for %s: %d payments committed meanwhile without them, %d answered in all; %d "
        "refused fast (circuit open); active set at most %zu (bound %zu); coordinator RSS %.1f "
        "-> at most %.1f MiB\n%s\n",
        absl::StrJoin(down, ", ").c_str(), absl::FormatDuration(outage).c_str(), committed_during,
        answered_elsewhere, refused, max_active, bound, rss_start / 1048576.0, max_rss / 1048576.0,
        report->c_str());
    EXPECT_GT(committed_during, 0) << "payments that need no down participant stopped";
    EXPECT_GT(refused, 0) << "no payment that needs a down participant was refused fast";
    EXPECT_LE(max_active, bound) << "decided payments piled up behind the down participants";
    EXPECT_LE(max_rss - rss_start, 64 << 20) << "the coordinator grew by more than 64 MiB";
  }

  BankOptions options_;
  launch::LocalStack stack_;
  std::unique_ptr<Bank> bank_;
};

TEST_F(ParticipantOutageTest, OneParticipantDownForMinutesStopsOnlyThePaymentsThatNeedIt) {
  StartStack({"notification"});
  RunOutage({"notification"}, absl::Minutes(2));
}

TEST_F(ParticipantOutageTest, TwoOfSeveralParticipantsDownStopOnlyThePaymentsThatNeedThem) {
  StartStack({"notification", "notification-b", "notification-c"});
  RunOutage({"notification", "notification-b"}, absl::Minutes(1));
}

}  // namespace
}  // namespace settle::fault
