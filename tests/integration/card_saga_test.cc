// Card payments as sagas through the real binaries on loopback: the coordinator, the card
// gateway, balance, ledger and notification. A charge takes effect at once and is undone only by
// an asynchronous refund; a failed step undoes the earlier ones; a refund that fails for good
// parks the saga until an operator acts.

#include <numeric>

#include "gtest/gtest.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using launch::LocalStack;
using launch::WaitFor;

constexpr int64_t kAmount = 4200;

class CardSagaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    for (const char* name : {"balance", "ledger", "notification", "gateway"}) {
      ASSERT_TRUE(stack_.StartParticipant(name).ok()) << name;
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("shop", 0).ok());
    v1::GatewayConfig config;
    config.add_declined_cards("4000-0000-0000-0002");
    config.set_refund_delay_micros(50'000);
    config_ = config;
    Configure(config);
  }

  void Configure(const v1::GatewayConfig& config) {
    ASSERT_TRUE(stack_.ConfigureGateway(config).ok());
  }

  // A card payment whose last step (the receipt) is refused: its payload has no recipient.
  v1::ExecuteRequest PaymentWithRefusedReceipt(const std::string& key) {
    v1::ExecuteRequest req = client::MakeCardPayment(key, "4111-1111-1111-1111", "shop", kAmount);
    v1::NotificationPayload bad;
    bad.set_topic("payment.settled");
    req.mutable_branches(3)->set_payload(bad.SerializeAsString());
    return req;
  }

  v1::TxnState State(const std::string& txn_id) {
    auto t = stack_.client().GetTransaction(txn_id);
    return t.ok() ? t->state() : v1::TXN_STATE_UNSPECIFIED;
  }

  // Charged minus refunded at the gateway: what the card holders paid, net.
  int64_t NetCharged() {
    auto charges = stack_.Charges();
    EXPECT_TRUE(charges.ok());
    int64_t net = 0;
    for (const auto& c : *charges) net += c.amount_minor() - c.refunded_minor();
    return net;
  }

  // What the ledger says was charged by card, net: the card receivables account's balance.
  int64_t LedgerCardReceivables() {
    auto journal = stack_.Journal();
    EXPECT_TRUE(journal.ok());
    int64_t net = 0;
    for (const auto& entry : *journal) {
      for (const auto& line : entry.lines()) {
        if (line.account() == client::kCardReceivables) {
          net += line.debit_minor() - line.credit_minor();
        }
      }
    }
    return net;
  }

  int64_t ShopBalance() {
    auto a = stack_.Account("shop");
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->available_minor() : -1;
  }

  LocalStack stack_;
  v1::GatewayConfig config_;  // What SetUp configured: one declined card, quick refunds.
};

TEST_F(CardSagaTest, ACardPaymentChargesCreditsJournalsAndNotifiesStepByStep) {
  auto r = stack_.client().Execute(
      client::MakeCardPayment("card-1", "4111-1111-1111-1111", "shop", kAmount));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_COMMITTED);
  EXPECT_EQ(NetCharged(), kAmount);
  EXPECT_EQ(LedgerCardReceivables(), kAmount);
  EXPECT_EQ(ShopBalance(), kAmount);
  auto outbox = stack_.Outbox();
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].topic(), "payment.settled");

  auto txn = stack_.client().GetTransaction(r->txn_id());
  ASSERT_TRUE(txn.ok());
  EXPECT_EQ(txn->mode(), v1::MODE_SAGA);
  EXPECT_EQ(txn->state(), v1::TXN_STATE_COMMITTED);
  ASSERT_EQ(txn->branches_size(), 4);
  const uint32_t steps[] = {0, 1, 1, 2};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(txn->branches(i).step(), steps[i]);
    EXPECT_EQ(txn->branches(i).state(), v1::BRANCH_STATE_COMMITTED);
  }
  // The same key again: the same saga, nothing charged twice.
  auto again = stack_.client().Execute(
      client::MakeCardPayment("card-1", "4111-1111-1111-1111", "shop", kAmount));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(NetCharged(), kAmount);
}

TEST_F(CardSagaTest, ADeclinedCardChargesNothingAndRunsNoLaterStep) {
  auto r = stack_.client().Execute(
      client::MakeCardPayment("card-declined", "4000-0000-0000-0002", "shop", kAmount));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_ABORTED);
  EXPECT_EQ(r->refused_participant(), "gateway");
  EXPECT_NE(r->reason().find("declined"), std::string::npos) << r->reason();
  ASSERT_TRUE(WaitFor([&] { return State(r->txn_id()) == v1::TXN_STATE_ABORTED; }));
  EXPECT_EQ(stack_.Charges()->size(), 0u);
  EXPECT_EQ(ShopBalance(), 0);
  EXPECT_EQ(stack_.Journal()->size(), 0u);
  EXPECT_EQ(stack_.Outbox()->size(), 0u);
}

TEST_F(CardSagaTest, ARefusedLastStepTakesTheCreditBackAndRefundsTheCard) {
  auto r = stack_.client().Execute(PaymentWithRefusedReceipt("card-refused-receipt"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_ABORTED);
  EXPECT_EQ(r->refused_participant(), "notification");
  // The refund completes asynchronously; the saga ends once it has.
  ASSERT_TRUE(WaitFor([&] { return State(r->txn_id()) == v1::TXN_STATE_ABORTED; }));
  auto txn = stack_.client().GetTransaction(r->txn_id());
  ASSERT_TRUE(txn.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(txn->branches(i).state(), v1::BRANCH_STATE_COMPENSATED) << i;
  }
  EXPECT_EQ(txn->branches(3).state(), v1::BRANCH_STATE_REFUSED);
  EXPECT_EQ(NetCharged(), 0);
  EXPECT_EQ(LedgerCardReceivables(), 0);  // The entry and its reversal.
  EXPECT_EQ(stack_.Journal()->size(), 2u);
  EXPECT_EQ(ShopBalance(), 0);
  auto refunds = stack_.Refunds();
  ASSERT_TRUE(refunds.ok());
  ASSERT_EQ(refunds->size(), 1u);
  EXPECT_EQ((*refunds)[0].state(), v1::REFUND_STATE_DONE);
}

TEST_F(CardSagaTest, ARefundThatFailsForGoodParksTheSagaUntilAnOperatorResolvesIt) {
  v1::GatewayConfig config = config_;
  config.set_refunds_fail_for_good(true);
  Configure(config);
  auto r = stack_.client().Execute(PaymentWithRefusedReceipt("card-parked"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_ABORTED);
  ASSERT_TRUE(WaitFor([&] { return State(r->txn_id()) == v1::TXN_STATE_NEEDS_ATTENTION; }));

  v1::ListTransactionsRequest parked;
  parked.add_states(v1::TXN_STATE_NEEDS_ATTENTION);
  auto listed = stack_.Transactions(parked);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].txn_id(), r->txn_id());
  EXPECT_EQ((*listed)[0].branches(0).state(), v1::BRANCH_STATE_NEEDS_ATTENTION);
  EXPECT_EQ(NetCharged(), kAmount);  // The card was not refunded: that is why it is parked.

  EXPECT_EQ(stack_.client().ResolveTransaction(r->txn_id(), "alice", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stack_.client().ResolveTransaction(r->txn_id(), "", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto resolved =
      stack_.client().ResolveTransaction(r->txn_id(), "alice", "refunded by bank transfer #77");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->state(), v1::TXN_STATE_ABORTED);
  ASSERT_TRUE(WaitFor([&] { return State(r->txn_id()) == v1::TXN_STATE_ABORTED; }));
  auto txn = stack_.client().GetTransaction(r->txn_id());
  ASSERT_TRUE(txn.ok());
  ASSERT_EQ(txn->operator_actions_size(), 1);
  EXPECT_EQ(txn->operator_actions(0).action(), "resolve");
  EXPECT_EQ(txn->operator_actions(0).operator_(), "alice");
  EXPECT_EQ(txn->operator_actions(0).reason(), "refunded by bank transfer #77");
  // Resolved once: a second command finds nothing parked.
  const absl::StatusCode again =
      stack_.client().RetryTransaction(r->txn_id(), "alice", "again").status().code();
  EXPECT_TRUE(again == absl::StatusCode::kNotFound ||
              again == absl::StatusCode::kFailedPrecondition)
      << absl::StatusCodeToString(again);
}

TEST_F(CardSagaTest, AnOperatorRetryFinishesAParkedSagaOnceRefundsWorkAgain) {
  v1::GatewayConfig config = config_;
  config.set_refunds_fail_for_good(true);
  Configure(config);
  auto r = stack_.client().Execute(PaymentWithRefusedReceipt("card-retried"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(WaitFor([&] { return State(r->txn_id()) == v1::TXN_STATE_NEEDS_ATTENTION; }));
  Configure(config_);  // The issuer takes refunds again.
  auto retried = stack_.client().RetryTransaction(r->txn_id(), "bob", "issuer fixed");
  ASSERT_TRUE(retried.ok()) << retried.status();
  ASSERT_TRUE(WaitFor([&] { return State(r->txn_id()) == v1::TXN_STATE_ABORTED; }));
  EXPECT_EQ(NetCharged(), 0);
  EXPECT_EQ(ShopBalance(), 0);
}

TEST_F(CardSagaTest, ARefundOfAnEarlierPaymentRunsAsItsOwnSaga) {
  auto paid = stack_.client().Execute(
      client::MakeCardPayment("card-to-refund", "4111-1111-1111-1111", "shop", kAmount));
  ASSERT_TRUE(paid.ok() && paid->outcome() == v1::OUTCOME_COMMITTED);
  auto refund = stack_.client().Execute(
      client::MakeCardRefund("refund-1", paid->txn_id() + "/0", "shop", kAmount));
  ASSERT_TRUE(refund.ok()) << refund.status();
  EXPECT_EQ(refund->outcome(), v1::OUTCOME_COMMITTED) << refund->reason();
  EXPECT_EQ(NetCharged(), 0);
  EXPECT_EQ(LedgerCardReceivables(), 0);
  EXPECT_EQ(ShopBalance(), 0);
  // More than was charged cannot be refunded: the merchant's debit is taken back.
  auto too_much = stack_.client().Execute(
      client::MakeCardRefund("refund-2", paid->txn_id() + "/0", "shop", 1));
  ASSERT_TRUE(too_much.ok());
  EXPECT_EQ(too_much->outcome(), v1::OUTCOME_ABORTED);
}

}  // namespace
}  // namespace settle
