// Three-phase commit with real processes. First: the coordinator killed at every point of the
// protocol and NOT restarted; with every message inside the bound, the participants' timers
// and termination protocol finish the payment on their own, the same way everywhere, and the
// coordinator, restarted afterwards, agrees. Second: a partition longer than the bound (the
// fault proxy holds the isolated participant's messages) splits the outcome exactly as the
// literature predicts; the coordinator notices once the partition heals and parks the payment
// for an operator. That second test is why the README calls two-phase commit the safe default.

#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using launch::LocalStack;
using launch::WaitFor;

// The bound: wide enough that a loaded 2-core machine keeps every message inside it.
constexpr char kBound[] = "--three_phase_timeout=3s";
// The partition test's: the partition lasts far longer anyway.
constexpr char kShortBound[] = "--three_phase_timeout=1s";
const std::vector<std::string> kKinds = {"balance", "ledger", "notification"};  // Branches 0..2.
constexpr int64_t kOpening = 1'000'000;
constexpr int64_t kAmount = 100;

class ThreePhaseFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& kind : kKinds) ASSERT_TRUE(stack_.StartParticipant(kind).ok()) << kind;
    ASSERT_TRUE(stack_.StartCoordinator({kBound}).ok());
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", kOpening).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  }

  // Its deadline also bounds the test's wait for a Prepare still in flight when the coordinator
  // died: after it, a late Prepare is refused without a hold.
  static constexpr absl::Duration kDeadline = absl::Seconds(3);

  static v1::ExecuteRequest Payment(const std::string& key) {
    v1::ExecuteRequest req = client::MakeTransfer(key, "alice", "bob", kAmount, kDeadline);
    req.set_mode(v1::MODE_THREE_PHASE);
    return req;
  }

  // The branch's state at the participant behind `kind` (UNSPECIFIED: never saw it).
  v1::BarrierState State(const std::string& kind, const std::string& txn_id, uint32_t branch) {
    auto stub = stack_.ParticipantStub(kind);
    v1::BranchStateRequest req;
    req.set_txn_id(txn_id);
    req.set_branch_id(branch);
    v1::BranchStateResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    EXPECT_TRUE(stub->GetBranchState(&ctx, req, &resp).ok());
    return resp.state();
  }

  // The transaction the coordinator was killed in, from its last words in its log.
  std::string CrashedTxn() {
    std::ifstream log(stack_.dir() + "/coordinator.log");
    std::string txn;
    const std::string marker = "\"txn\":\"";
    for (std::string line; std::getline(log, line);) {
      if (line.find("test crash point reached") == std::string::npos) continue;
      const size_t at = line.find(marker);
      if (at == std::string::npos) continue;
      const size_t from = at + marker.size();
      txn = line.substr(from, line.find('"', from) - from);
    }
    return txn;
  }

  LocalStack stack_;
};

TEST_F(ThreePhaseFaultTest, ACoordinatorKilledAtAnyPointLeavesParticipantsThatFinishAlike) {
  const std::vector<std::string> points = {
      "send:Prepare:1",   "logged:precommitting", "send:PreCommit:1", "send:PreCommit:2",
      "logged:committing", "send:Commit:1",       "send:Commit:2"};
  int committed = 0, aborted = 0;
  std::set<std::string> seen;  // One new transaction per round.
  int64_t expected_alice = kOpening;
  for (const std::string& point : points) {
    SCOPED_TRACE(point);
    ASSERT_TRUE(stack_.StartCoordinator({kBound, "--test_crash_point=" + point}).ok());
    client::RetryOptions once;
    once.max_attempts = 1;
    const absl::Time paid_at = absl::Now();
    (void)stack_.client().Execute(Payment("pay-" + point), once);
    ASSERT_TRUE(stack_.coordinator().Wait(absl::Seconds(20)).has_value())
        << "the coordinator never reached the crash point";
    const std::string txn = CrashedTxn();
    ASSERT_FALSE(txn.empty());
    ASSERT_TRUE(seen.insert(txn).second) << "the crash line of an earlier round";

    // No coordinator from here on: the participants' timers must finish the payment. A branch
    // that never saw its Prepare (killed before it left) is finished once the deadline passed.
    std::map<std::string, v1::BarrierState> states;
    ASSERT_TRUE(WaitFor([&] {
      for (uint32_t b = 0; b < kKinds.size(); ++b) states[kKinds[b]] = State(kKinds[b], txn, b);
      for (const auto& [kind, s] : states) {
        const bool done = s == v1::BARRIER_STATE_COMMITTED || s == v1::BARRIER_STATE_ABORTED ||
                          (s == v1::BARRIER_STATE_UNSPECIFIED && absl::Now() > paid_at + kDeadline);
        if (!done) return false;
      }
      return true;
    })) << "a participant is still waiting without the coordinator";
    const bool commit = states["balance"] == v1::BARRIER_STATE_COMMITTED;
    for (const auto& [kind, s] : states) {
      EXPECT_EQ(s == v1::BARRIER_STATE_COMMITTED, commit)
          << kind << " ended " << v1::BarrierState_Name(s) << ", balance "
          << v1::BarrierState_Name(states["balance"]);
    }
    (commit ? committed : aborted)++;
    std::printf("crash at %s: every participant %s without the coordinator\n", point.c_str(),
                commit ? "committed" : "aborted");
    if (commit) expected_alice -= kAmount;
    auto alice = stack_.Account("alice");
    ASSERT_TRUE(alice.ok());
    EXPECT_EQ(alice->available_minor(), expected_alice);
    EXPECT_EQ(alice->held_minor(), 0) << "a hold left behind";

    // The coordinator, back, agrees with what the participants did without it.
    ASSERT_TRUE(stack_.StartCoordinator({kBound}).ok());
    ASSERT_TRUE(WaitFor([&] {
      auto active = stack_.ActiveTransactions();
      return active.ok() && active->empty();
    }, absl::Seconds(40)));
    auto t = stack_.client().GetTransaction(txn);
    if (t.ok()) {
      EXPECT_EQ(t->state(), commit ? v1::TXN_STATE_COMMITTED : v1::TXN_STATE_ABORTED);
    } else {
      EXPECT_FALSE(commit) << "no record of a payment the participants committed";
    }
  }
  std::printf("three-phase crash points: %zu, committed without the coordinator %d, aborted %d\n",
              points.size(), committed, aborted);
  EXPECT_GT(committed, 0);
  EXPECT_GT(aborted, 0);
}

TEST_F(ThreePhaseFaultTest, APartitionLongerThanTheBoundSplitsTheOutcomeAndIsParked) {
  ASSERT_TRUE(stack_.StartCoordinator({kShortBound}).ok());
  // A proxy in front of each participant; peers reach each other through them too. The ledger
  // is cut off after its Prepare: nothing more reaches it, and it cannot ask its peers.
  std::vector<std::unique_ptr<launch::Process>> proxies;
  for (const std::string& kind : kKinds) {
    const std::string hold =
        kind == "ledger" ? "PreCommit,Commit,Abort,GetBranchState" : "GetBranchState";
    auto p = stack_.StartFaultProxy(kind, {"--drop_request=0", "--drop_reply=0", "--duplicate=0",
                                           "--delay_max=0s", "--hold=" + hold});
    ASSERT_TRUE(p.ok()) << p.status();
    proxies.push_back(std::move(*p));
  }
  auto paid = stack_.client().Execute(Payment("pay-partitioned"));
  ASSERT_TRUE(paid.ok()) << paid.status();
  EXPECT_EQ(paid->outcome(), v1::OUTCOME_COMMITTED)
      << "the ledger was silent for the whole bound: the coordinator commits without it";
  const std::string txn = paid->txn_id();

  // The predicted divergence: the ledger, alone and never precommitted, aborts on its timer.
  ASSERT_TRUE(WaitFor([&] {
    return State("ledger", txn, 1) == v1::BARRIER_STATE_ABORTED &&
           State("balance", txn, 0) == v1::BARRIER_STATE_COMMITTED &&
           State("notification", txn, 2) == v1::BARRIER_STATE_COMMITTED;
  })) << "ledger " << v1::BarrierState_Name(State("ledger", txn, 1));
  auto alice = stack_.Account("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->available_minor(), kOpening - kAmount) << "the balance committed";
  auto journal = stack_.Journal();
  ASSERT_TRUE(journal.ok());
  for (const auto& e : *journal) EXPECT_NE(e.txn_id(), txn) << "the ledger journalled it";

  // Healed: the coordinator reaches the ledger again, hears the refusal and parks the payment.
  ASSERT_TRUE(stack_.client()
                  .RegisterParticipant("ledger", stack_.participant_endpoint("ledger"))
                  .ok());
  ASSERT_TRUE(WaitFor([&] {
    auto t = stack_.client().GetTransaction(txn);
    return t.ok() && t->branches(1).state() == v1::BRANCH_STATE_NEEDS_ATTENTION;
  }, absl::Seconds(40))) << "the divergence was not reported";
  ASSERT_TRUE(WaitFor([&] {
    const std::string metrics = launch::HttpGet(stack_.coordinator_metrics_endpoint(), "/metrics");
    return metrics.find("settle_transactions_needing_attention 1") != std::string::npos;
  }));
  auto resolved = stack_.client().ResolveTransaction(txn, "ops-1", "journal posted by hand");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->state(), v1::TXN_STATE_COMMITTED);
  int held = 0;
  for (const std::string& kind : kKinds) held += stack_.ProxyLogCount(kind, "\"hold\"");
  std::printf("three-phase partition: messages held %d; balance and notification committed, "
              "ledger aborted; coordinator parked it\n", held);
}

}  // namespace
}  // namespace settle
