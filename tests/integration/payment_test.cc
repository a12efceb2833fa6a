// A payment through the real binaries on loopback: coordinator, balance, ledger, notification.

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using launch::LocalStack;

class PaymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stack_.StartAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 10000).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  }

  // A transfer that returns once every participant has acknowledged the outcome.
  absl::StatusOr<v1::ExecuteResponse> Transfer(const std::string& key, int64_t amount) {
    v1::ExecuteRequest req = client::MakeTransfer(key, "alice", "bob", amount);
    req.set_wait_for_acks(true);
    return stack_.client().Execute(req);
  }

  void ExpectBalances(int64_t alice, int64_t bob) {
    auto a = stack_.Account("alice"), b = stack_.Account("bob");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->available_minor(), alice);
    EXPECT_EQ(a->held_minor(), 0);
    EXPECT_EQ(b->available_minor(), bob);
    EXPECT_EQ(b->held_minor(), 0);
  }

  // The `settle` CLI against this stack's coordinator.
  launch::Ran Cli(std::vector<std::string> args) {
    args.push_back("--coordinator=" + stack_.coordinator_endpoint());
    return launch::RunToExit(launch::BinaryPath("settle"), args, stack_.dir() + "/cli.log");
  }

  LocalStack stack_;
};

TEST_F(PaymentTest, CommitsAtAllThreeServices) {
  auto r = Transfer("pay-1", 2500);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_COMMITTED);
  ExpectBalances(7500, 2500);
  auto journal = stack_.Journal();
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 1u);
  EXPECT_EQ((*journal)[0].txn_id(), r->txn_id());
  EXPECT_EQ((*journal)[0].lines_size(), 2);
  auto outbox = stack_.Outbox();
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].txn_id(), r->txn_id());
  EXPECT_EQ((*outbox)[0].state(), v1::MESSAGE_STATE_READY);
  auto txn = stack_.client().GetTransaction(r->txn_id());
  ASSERT_TRUE(txn.ok());
  EXPECT_EQ(txn->state(), v1::TXN_STATE_COMMITTED);
  for (const auto& b : txn->branches()) EXPECT_EQ(b.state(), v1::BRANCH_STATE_COMMITTED);
}

// The CLI's --mode three_phase, end to end: the same effects, and the mode shown, counted and
// filtered on.
TEST_F(PaymentTest, ThreePhaseFromTheCliCommitsAtAllThreeServices) {
  const launch::Ran transfer =
      Cli({"transfer", "alice", "bob", "700", "--mode=three_phase", "--key=pay-3pc"});
  ASSERT_EQ(transfer.exit_code, 0) << transfer.output;
  auto txn = stack_.client().GetTransactionByKey("pay-3pc");
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_EQ(txn->mode(), v1::MODE_THREE_PHASE);
  ASSERT_TRUE(launch::WaitFor([&] {
    auto t = stack_.client().GetTransaction(txn->txn_id());
    return t.ok() && t->state() == v1::TXN_STATE_COMMITTED;
  }));
  ExpectBalances(9300, 700);
  for (const char* kind : {"balance", "ledger", "notification"}) {
    auto branches = stack_.Branches(kind);
    ASSERT_TRUE(branches.ok());
    ASSERT_EQ(branches->size(), 1u) << kind;
    EXPECT_EQ((*branches)[0].state(), v1::BARRIER_STATE_COMMITTED) << kind;
  }
  const std::string metrics =
      launch::HttpGet(stack_.coordinator_metrics_endpoint(), "/metrics");
  EXPECT_NE(metrics.find("settle_transactions_total{mode=\"three_phase\",outcome=\"committed\"} 1"),
            std::string::npos);

  // Beside a two-phase payment, `settle list` finds each by its mode, and neither as stuck.
  ASSERT_TRUE(Transfer("pay-2pc", 100).ok());
  const launch::Ran three = Cli({"list", "--mode=three_phase"});
  EXPECT_EQ(three.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(three.output, "pay-3pc")) << three.output;
  EXPECT_FALSE(absl::StrContains(three.output, "pay-2pc")) << three.output;
  const launch::Ran two = Cli({"list", "--mode=two_phase"});
  EXPECT_TRUE(absl::StrContains(two.output, "pay-2pc")) << two.output;
  EXPECT_FALSE(absl::StrContains(two.output, "pay-3pc")) << two.output;
  const launch::Ran stuck = Cli({"list", "--stuck"});
  EXPECT_EQ(stuck.exit_code, 0);
  EXPECT_FALSE(absl::StrContains(stuck.output, "pay-")) << stuck.output;
  const launch::Ran bad = Cli({"list", "--mode=tcc"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(bad.output, "--mode must be two_phase, saga or three_phase"))
      << bad.output;
}

TEST_F(PaymentTest, NoVoteAbortsEverywhereAndNothingMoves) {
  auto r = Transfer("pay-too-much", 99999);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_ABORTED);
  EXPECT_EQ(r->refused_participant(), "balance");
  EXPECT_EQ(r->refused_branch(), 0);
  ExpectBalances(10000, 0);
  EXPECT_TRUE(stack_.Journal()->empty());
  EXPECT_TRUE(stack_.Outbox()->empty());  // The pending receipt was dropped, never sent.
  for (const char* kind : {"balance", "ledger", "notification"}) {
    SCOPED_TRACE(kind);
    auto branches = stack_.Branches(kind);
    ASSERT_TRUE(branches.ok());
    ASSERT_EQ(branches->size(), 1u);
    EXPECT_EQ((*branches)[0].state(), v1::BARRIER_STATE_ABORTED);
  }
}

TEST_F(PaymentTest, SameKeyTwiceIsOneTransaction) {
  auto first = Transfer("pay-once", 1000);
  auto second = Transfer("pay-once", 1000);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(second->txn_id(), first->txn_id());
  EXPECT_EQ(second->outcome(), v1::OUTCOME_COMMITTED);
  EXPECT_TRUE(second->replayed());
  ExpectBalances(9000, 1000);
  EXPECT_EQ(stack_.Journal()->size(), 1u);

  auto other_body = Transfer("pay-once", 7);
  ASSERT_FALSE(other_body.ok());
  EXPECT_EQ(other_body.status().code(), absl::StatusCode::kAlreadyExists);
  ExpectBalances(9000, 1000);
}

TEST_F(PaymentTest, ConcurrentRetriesOfOneKeyAreOneTransaction) {
  constexpr int kClients = 8;
  std::vector<std::string> ids(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([this, &ids, i] {
      auto r = Transfer("pay-race", 300);
      if (r.ok()) ids[i] = r->txn_id();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_FALSE(ids[0].empty());
  ExpectBalances(9700, 300);
  EXPECT_EQ(stack_.Journal()->size(), 1u);
}

TEST_F(PaymentTest, ListsTransactionsByStateAndParticipant) {
  ASSERT_TRUE(Transfer("pay-a", 100).ok());
  ASSERT_TRUE(Transfer("pay-b", 1000000).ok());
  v1::ListTransactionsRequest req;
  req.add_states(v1::TXN_STATE_ABORTED);
  auto aborted = stack_.client().ListTransactions(req);
  ASSERT_TRUE(aborted.ok());
  ASSERT_EQ(aborted->transactions_size(), 1);
  EXPECT_EQ(aborted->transactions(0).idempotency_key(), "pay-b");
  req.clear_states();
  req.set_participant("ledger");
  EXPECT_EQ(stack_.client().ListTransactions(req)->transactions_size(), 2);
}

TEST_F(PaymentTest, JournalIsReadPageByPage) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Transfer(absl::StrCat("page-", i), 10).ok());
  auto stub = v1::LedgerAdmin::NewStub(grpc::CreateChannel(stack_.participant_endpoint("ledger"),
                                                           settle::ChannelCredentials({})));
  v1::ListEntriesRequest req;
  req.set_page_size(2);
  std::vector<uint64_t> sequences;
  int pages = 0;
  do {
    v1::ListEntriesResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->ListEntries(&ctx, req, &resp).ok());
    for (const auto& e : resp.entries()) sequences.push_back(e.sequence());
    req.set_page_token(resp.next_page_token());
    ++pages;
  } while (!req.page_token().empty());
  EXPECT_EQ(sequences, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(pages, 2);
  req.set_page_size(5000);
  req.clear_page_token();
  v1::ListEntriesResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub->ListEntries(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace settle
