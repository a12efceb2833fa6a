// Four coordinator shards on loopback, each with its own log, routed by key (common/shard_map.h):
// one shard killed -9 and kept down for a minute, or with its disk full, stops only the payments
// whose keys it owns (UNAVAILABLE naming it, at once); every other payment commits; its
// participants' in-doubt branches wait for it and resolve when it is back; and the bank check
// holds across all shards. A drained shard finishes what it holds before its replica goes. And
// the number of shards grows from three to four under load without any key running twice.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/shard_map.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
#include "tests/fault/fault_test.h"

namespace settle::fault {
namespace {

using launch::WaitFor;

constexpr int kShards = 4;

// What payments outside the bank saw while one shard was out.
struct ProbeReport {
  int owned = 0, owned_refused = 0;  // Keys of the shard that is out.
  int elsewhere = 0, elsewhere_committed = 0;
  absl::Duration slowest_refusal;
  std::vector<std::string> problems;
};

class ShardFaultTest : public FaultTest {
 protected:
  void SetUp() override {
    stack_.UseShards(kShards);
    StartBankStack(stack_, bank_);
    if (HasFatalFailure()) return;
    ASSERT_TRUE(stack_.OpenAccount("probe-from", 1000000).ok());
    ASSERT_TRUE(stack_.OpenAccount("probe-to", 0).ok());
  }

  // Payments one after another for `window`, each at the shard its key hashes to, as a payment
  // API would send them (SettleClient's retries included). Those of shard `out` must be refused
  // UNAVAILABLE naming it, within seconds (or, with `abort_ok`, abort: a full disk lets one
  // begin that cannot be decided); all the others must commit.
  ProbeReport Probe(int out, absl::Duration window, bool abort_ok = false) {
    ProbeReport report;
    const client::SettleClient& client = stack_.client();
    const absl::Time end = absl::Now() + window;
    for (int n = 0; absl::Now() < end; ++n) {
      const std::string key = absl::StrCat("probe-", out, "-", n);
      const int owner = client.shards().ShardOfKey(key);
      const absl::Time start = absl::Now();
      auto r = client.Execute(client::MakeTransfer(key, "probe-from", "probe-to", 1));
      const absl::Duration took = absl::Now() - start;
      if (owner != out) {
        ++report.elsewhere;
        if (r.ok() && r->outcome() == v1::OUTCOME_COMMITTED) {
          ++report.elsewhere_committed;
        } else {
          report.problems.push_back(absl::StrCat(
              key, " (shard s", owner, "): ", r.ok() ? "aborted" : r.status().ToString()));
        }
        continue;
      }
      ++report.owned;
      const bool refused = !r.ok() && r.status().code() == absl::StatusCode::kUnavailable &&
                           absl::StrContains(r.status().message(), ShardName(out));
      if (refused || (abort_ok && r.ok() && r->outcome() == v1::OUTCOME_ABORTED)) {
        ++report.owned_refused;
        report.slowest_refusal = std::max(report.slowest_refusal, took);
      } else {
        report.problems.push_back(absl::StrCat(
            key, " (shard s", out, ", out): ", r.ok() ? "answered" : r.status().ToString()));
      }
      // A payment API's pace; the shard's outage lasts `window` whatever the probes do.
      absl::SleepFor(absl::Milliseconds(20));
    }
    std::printf(
        "shard s%d out for %s: its keys %d, refused %d (slowest %s); other keys %d, "
        "committed %d\n",
        out, absl::FormatDuration(window).c_str(), report.owned, report.owned_refused,
        absl::FormatDuration(report.slowest_refusal).c_str(), report.elsewhere,
        report.elsewhere_committed);
    return report;
  }

  void ExpectOnlyItsKeysStopped(const ProbeReport& r) {
    EXPECT_TRUE(r.problems.empty()) << r.problems.size() << " problems, first: " << r.problems[0];
    EXPECT_GT(r.owned, 5);
    EXPECT_GT(r.elsewhere, 3 * r.owned / 2);
    EXPECT_EQ(r.owned_refused, r.owned);
    EXPECT_EQ(r.elsewhere_committed, r.elsewhere);
    // SettleClient's five attempts with backoff, never a call timeout.
    EXPECT_LT(r.slowest_refusal, absl::Seconds(5));
  }

  // The branches participants hold prepared for transactions of shard `shard`.
  std::vector<std::string> PreparedBranchesOf(int shard) {
    std::vector<std::string> out;
    for (const char* kind : {"balance", "ledger", "notification"}) {
      auto branches = stack_.Branches(kind);
      if (!branches.ok()) continue;
      for (const auto& b : *branches) {
        if (b.state() == v1::BARRIER_STATE_PREPARED &&
            absl::StartsWith(b.txn_id(), ShardName(shard) + "-")) {
          out.push_back(absl::StrCat(kind, ":", b.txn_id()));
        }
      }
    }
    return out;
  }

  static BankOptions Options() {
    BankOptions o;  // Two-phase transfers: their in-doubt branches wait for their shard.
    // A payment whose shard is out is given up soon (UNKNOWN to the check), so that the bank's
    // clients keep paying through the other shards.
    o.give_up_after = absl::Seconds(2);
    return o;
  }

  launch::LocalStack stack_;
  Bank bank_{stack_, Options()};
};

TEST_F(ShardFaultTest, OneShardKilledAndDownForAMinuteStopsOnlyItsKeys) {
  constexpr int kOut = 2;
  bank_.Start();
  ASSERT_TRUE(WaitFor([&] { return bank_.payments() > 40; }, absl::Seconds(60)));
  // Shard s2 is killed -9 at its next commit decision, once it is durable and before any
  // participant hears it: its branches are left prepared, in doubt.
  ASSERT_TRUE(stack_.StartShard(kOut, {"--test_crash_point=after_commit_logged"}).ok());
  ASSERT_TRUE(stack_.shard(kOut).Wait(absl::Seconds(60)).has_value())
      << "shard s2 reached no commit decision in 60 s";
  ++faults_;
  const absl::Time down = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return !PreparedBranchesOf(kOut).empty(); }))
      << "the killed shard left nothing prepared";

  const ProbeReport report = Probe(kOut, absl::Seconds(60) - (absl::Now() - down));
  ExpectOnlyItsKeysStopped(report);
  // Nobody else decides for shard s2: its branches are still prepared a minute later.
  const std::vector<std::string> in_doubt = PreparedBranchesOf(kOut);
  EXPECT_FALSE(in_doubt.empty()) << "shard s2's in-doubt branches were decided while it was down";
  std::printf("shard s2 down for %s; %zu branches of it in doubt at the participants\n",
              absl::FormatDuration(absl::Now() - down).c_str(), in_doubt.size());

  ASSERT_TRUE(stack_.StartShard(kOut).ok());
  ASSERT_TRUE(WaitFor([&] { return PreparedBranchesOf(kOut).empty(); }, absl::Seconds(30)))
      << "shard s2's in-doubt branches did not resolve once it was back";
  HealAndCheck(bank_, absl::Seconds(90));
}

TEST_F(ShardFaultTest, OneShardsDiskFullStopsOnlyItsKeys) {
  constexpr int kOut = 1;
  const std::string trigger = stack_.dir() + "/disk-full";
  ASSERT_TRUE(stack_.StartShard(kOut, {"--test_write_fault_trigger=" + trigger}).ok());
  bank_.Start();
  ASSERT_TRUE(WaitFor([&] { return bank_.payments() > 40; }, absl::Seconds(60)));
  std::ofstream(trigger) << "full";
  ++faults_;
  const ProbeReport report = Probe(kOut, absl::Seconds(20), /*abort_ok=*/true);
  ExpectOnlyItsKeysStopped(report);
  std::filesystem::remove(trigger);
  const int64_t healed = bank_.payments();
  ASSERT_TRUE(WaitFor([&] { return bank_.payments() > healed + 40; }, absl::Seconds(60)));
  HealAndCheck(bank_, absl::Seconds(90));
}

// Scale-down: the shard is drained (the StatefulSet's preStop runs `settle drain`) with
// payments in flight; it admits no new key, finishes every transaction it began, reports empty,
// and only then goes. Nothing it began is lost or left in doubt.
TEST_F(ShardFaultTest, ADrainedShardFinishesWhatItHoldsBeforeItGoes) {
  constexpr int kGone = 3;
  bank_.Start();
  ASSERT_TRUE(WaitFor([&] { return bank_.payments() > 40; }, absl::Seconds(60)));
  // The ledger stops answering for a moment, so that the shard holds payments when its drain
  // starts.
  stack_.participant("ledger").Signal(SIGSTOP);
  ASSERT_TRUE(WaitFor([&] {
    auto r = stack_.client().DrainShard(kGone, /*report_only=*/true);
    return r.ok() && r->unfinished() > 0;
  }));
  auto started = stack_.client().DrainShard(kGone, false, "scale-down", "replica removed");
  stack_.participant("ledger").Signal(SIGCONT);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_TRUE(started->draining());
  EXPECT_GT(started->unfinished(), 0);
  std::printf("drain started with %lld transactions in flight at shard s3\n",
              static_cast<long long>(started->unfinished()));

  // What the preStop hook runs, in the pod's environment (SETTLE_SHARD is the pod's name) and
  // at its own address: again (harmless), then it waits until the shard is empty.
  const launch::Ran drain =
      launch::RunToExit("/usr/bin/env",
                        {"SETTLE_SHARD=settle-coordinator-3", launch::BinaryPath("settle"), "drain",
                         "--coordinator=" + stack_.coordinator_endpoint(kGone),
                         "--operator_name=preStop", "--reason=replica removed", "--wait=30s"},
                        stack_.dir() + "/drain.out", absl::Seconds(60));
  ASSERT_EQ(drain.exit_code, 0) << drain.output;
  EXPECT_TRUE(absl::StrContains(drain.output, "shard s3: draining, 0 unfinished")) << drain.output;

  // The drain is audited; a new key of the shard is refused while repeats are answered.
  auto audit = stack_.client().ListOperatorCommands({}, kGone);
  ASSERT_TRUE(audit.ok()) << audit.status();
  std::vector<std::string> drains;
  for (const auto& c : audit->commands()) {
    if (c.action() == "drain") drains.push_back(c.on_behalf_of() + ": " + c.reason());
  }
  EXPECT_EQ(drains,
            (std::vector<std::string>{"scale-down: replica removed", "preStop: replica removed"}));
  std::string fresh;
  for (int n = 0; fresh.empty(); ++n) {
    const std::string key = absl::StrCat("after-drain-", n);
    if (stack_.client().shards().ShardOfKey(key) == kGone) fresh = key;
  }
  client::RetryOptions once;
  once.max_attempts = 1;
  auto refused =
      stack_.client().Execute(client::MakeTransfer(fresh, "probe-from", "probe-to", 1), once);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "draining")) << refused.status();
  // Its metrics say which shard they are, as every shard's do.
  const std::string metrics =
      launch::HttpGet(stack_.coordinator_metrics_endpoint(kGone), "/metrics");
  EXPECT_TRUE(absl::StrContains(metrics, "outcome=\"committed\",shard=\"s3\"}")) << metrics;

  // The replica goes (SIGTERM, as Kubernetes stops it after preStop); the other shards go on.
  stack_.shard(kGone).Signal(SIGTERM);
  ASSERT_TRUE(stack_.shard(kGone).Wait(absl::Seconds(30)).has_value());
  ++faults_;
  EXPECT_TRUE(PreparedBranchesOf(kGone).empty()) << "the removed shard left branches in doubt";
  const int64_t before = bank_.payments();
  ASSERT_TRUE(WaitFor([&] { return bank_.payments() > before + 40; }, absl::Seconds(60)));
  // The check reads every shard's log: the removed one's volume is read by starting it again.
  ASSERT_TRUE(stack_.StartShard(kGone).ok());
  HealAndCheck(bank_, absl::Seconds(90));
}

// Changing the number of shards (README, "Changing the number of shards") under the bank's load,
// its payment APIs paying on the old list throughout: the shards that exist are restarted with
// the new count, --previous_shards and --peers (a shard that goes, first), then any new shard
// starts. The payment APIs then move to the new list and send every payment again from their
// first, the same keys and bodies: a key that moved and ran before the change is answered from
// where it ran, with the same id, and not run again; one that the change refused runs once, at
// its new owner. The bank check (one transaction per key across all shards, money conserved)
// holds.
class ReshardTest : public FaultTest {
 protected:
  void ChangeUnderLoad(int from, int to) {
    launch::LocalStack stack;
    stack.UseShards(from);
    BankOptions options;
    options.give_up_after = absl::Seconds(20);
    Bank bank(stack, options);
    StartBankStack(stack, bank);
    if (HasFatalFailure()) return;
    bank.Start();
    ASSERT_TRUE(WaitFor([&] { return bank.payments() > 120; }, absl::Seconds(90)));

    stack.Reshard(to);
    for (int i = from - 1; i >= 0; --i) {
      stack.shard(i).Signal(SIGTERM);  // A rolling restart: the pod goes, then comes back.
      ASSERT_TRUE(stack.shard(i).Wait(absl::Seconds(30)).has_value());
      ++faults_;
      ASSERT_TRUE(stack.StartShard(i).ok());
    }
    if (to > from) {
      for (int i = from; i < to; ++i) ASSERT_TRUE(stack.StartShard(i).ok());
      // The new shards learn the participants; the participants learn where they are.
      ASSERT_TRUE(stack.RegisterAll().ok());
      for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
        ASSERT_TRUE(stack.StartParticipant(kind, ParticipantFlags()).ok());
      }
    }
    bank.Stop();
    const std::map<std::string, Payment> before = bank.Payments();

    // Every key again, through the new list, then new ones: until each client is past the last
    // key it sent before.
    std::map<int, int> last;  // Client -> its last payment number before.
    for (const auto& [key, p] : before) {
      const std::vector<std::string> parts = absl::StrSplit(key, '-');
      int& n = last[std::stoi(parts[1])];
      n = std::max(n, std::stoi(parts[2]));
    }
    bank.Start();
    ASSERT_TRUE(WaitFor(
        [&] {
          const std::map<std::string, Payment> now = bank.Payments();
          for (const auto& [client, n] : last) {
            if (!now.count(absl::StrCat("bank-", client, "-", n + 5))) return false;
          }
          return true;
        },
        absl::Seconds(120)))
        << "the clients did not get past their earlier payments";

    const std::map<std::string, Payment> after = bank.Payments();
    int moved_answered = 0, refused_then_run = 0;
    for (const auto& [key, then] : before) {
      const Payment& now = after.at(key);
      const uint32_t slot = SlotOfKey(key);
      const int owner = ShardOfSlot(slot, to);
      const bool moved = ShardOfSlot(slot, from) != owner;
      if (then.outcome == "COMMITTED" || then.outcome == "ABORTED") {
        EXPECT_EQ(now.txn_id, then.txn_id) << key << " was answered by another transaction";
        EXPECT_EQ(now.outcome, then.outcome) << key;
        moved_answered += moved ? 1 : 0;
      } else if (absl::StrContains(then.outcome, "FAILED_PRECONDITION")) {
        // Refused by its old owner once that one ran with the new count: it ran nowhere.
        EXPECT_TRUE(moved) << key << ": " << then.outcome;
        EXPECT_TRUE(absl::StartsWith(now.txn_id, ShardName(owner) + "-"))
            << key << ": " << now.txn_id;
        ++refused_then_run;
      }
    }
    std::printf(
        "%d -> %d shards: %zu payments before the change, %d of them moved and were answered "
        "from where they ran, %d refused during the change and run once at their new owner\n",
        from, to, before.size(), moved_answered, refused_then_run);
    EXPECT_GT(moved_answered, 10) << "too few moved keys were tried again to show anything";
    HealAndCheck(bank, absl::Seconds(90));
  }
};

TEST_F(ReshardTest, GrowingFromThreeShardsToFourRunsNoKeyTwice) { ChangeUnderLoad(3, 4); }

// s3 is retired: it owns no key, admits nothing new and answers the keys it ran (the new owners
// ask it), and stays up with its participants' GetDecision until the window has passed.
TEST_F(ReshardTest, ShrinkingFromFourShardsToThreeRunsNoKeyTwice) { ChangeUnderLoad(4, 3); }

}  // namespace
}  // namespace settle::fault
