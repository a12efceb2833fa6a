// Card payments as sagas under kill -9: real processes (coordinator, gateway, balance, ledger,
// notification), clients paying by card while the coordinator and the gateway are killed at
// random instants; then everything heals and the checker proves that every saga ended applied
// everywhere or undone everywhere: what the gateway charged, net of refunds, equals what the
// ledger journalled as card receivables and what the merchant holds; no saga is left half done;
// every payment a client was told COMMITTED is committed, and a declined card charged nothing.

#include <signal.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using launch::LocalStack;
using launch::WaitFor;

constexpr absl::Duration kReapTimeout = absl::Seconds(30);
constexpr char kDeclined[] = "4000-0000-0000-0002";

class SagaFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = static_cast<uint32_t>(absl::ToUnixNanos(absl::Now()));
    rng_.seed(seed_);
    std::printf("random seed: %u\n", seed_);
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    for (const char* name : {"balance", "ledger", "notification", "gateway"}) {
      ASSERT_TRUE(stack_.StartParticipant(name).ok()) << name;
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("shop", 0).ok());
    v1::GatewayConfig config;
    config.add_declined_cards(kDeclined);
    config.set_refund_delay_micros(20'000);
    ASSERT_TRUE(stack_.ConfigureGateway(config).ok());
  }

  // What a client did and was told, by idempotency key.
  struct Paid {
    bool declined_card = false;
    bool refused_receipt = false;
    std::string outcome;  // "COMMITTED", "ABORTED", or "UNKNOWN" (gave up on errors).
    std::string txn_id;
  };

  // One client: card payments, one in three declined or with a receipt that is refused, each
  // retried with its key until answered.
  void Client(int id, const std::atomic<bool>& stop) {
    // Its own client: the stack's is replaced whenever the coordinator restarts.
    auto client = client::SettleClient::Connect(stack_.coordinator_endpoint());
    for (int n = 0; !stop.load(); ++n) {
      const std::string key = absl::StrCat("saga-", id, "-", n);
      Paid paid;
      paid.declined_card = n % 3 == 1;
      paid.refused_receipt = n % 3 == 2;
      v1::ExecuteRequest req = client::MakeCardPayment(
          key, paid.declined_card ? kDeclined : "4111-1111-1111-1111", "shop", 100 + n);
      if (paid.refused_receipt) {
        v1::NotificationPayload bad;
        bad.set_topic("payment.settled");
        req.mutable_branches(3)->set_payload(bad.SerializeAsString());
      }
      client::RetryOptions retry;
      retry.max_attempts = 30;
      retry.call_timeout = absl::Seconds(10);
      auto r = client->Execute(req, retry);
      paid.outcome = !r.ok() ? "UNKNOWN"
                     : r->outcome() == v1::OUTCOME_COMMITTED ? "COMMITTED"
                                                              : "ABORTED";
      if (r.ok()) paid.txn_id = r->txn_id();
      absl::MutexLock lock(&mu_);
      paid_[key] = paid;
    }
  }

  void KillAndRestart(const std::string& who) {
    auto& process = who == "coordinator" ? stack_.coordinator() : stack_.participant(who);
    process.Signal(SIGKILL);
    ASSERT_TRUE(process.Wait(kReapTimeout).has_value()) << who << " outlived SIGKILL";
    const absl::Status started =
        who == "coordinator" ? stack_.StartCoordinator() : stack_.StartParticipant(who);
    ASSERT_TRUE(started.ok()) << who << ": " << started;
  }

  uint32_t seed_ = 0;
  std::mt19937 rng_;
  LocalStack stack_;
  absl::Mutex mu_;
  std::map<std::string, Paid> paid_ ABSL_GUARDED_BY(mu_);
};

TEST_F(SagaFaultTest, CardSagasEndAppliedOrUndoneEverywhereThroughKills) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) clients.emplace_back([this, i, &stop] { Client(i, stop); });
  int faults = 0;
  for (int i = 0; i < 12; ++i) {
    // A random instant, not a wait for a condition: the kills are meant to land anywhere.
    absl::SleepFor(absl::Milliseconds(100 + static_cast<int>(rng_() % 300)));
    KillAndRestart(i % 3 == 2 ? "gateway" : "coordinator");
    if (HasFatalFailure()) break;  // The clients below are stopped before the test ends.
    ++faults;
  }
  stop.store(true);
  for (auto& t : clients) t.join();

  // Heal: every saga reaches a terminal state.
  ASSERT_TRUE(WaitFor([&] {
    auto active = stack_.ActiveTransactions();
    return active.ok() && active->empty();
  }, absl::Seconds(90))) << "sagas still active 90 s after the faults (seed " << seed_ << ")";

  auto all = stack_.Transactions(v1::ListTransactionsRequest());
  ASSERT_TRUE(all.ok());
  std::map<std::string, v1::Transaction> by_key;
  for (const auto& t : *all) by_key[t.idempotency_key()] = t;
  auto charges = stack_.Charges();
  ASSERT_TRUE(charges.ok());
  std::map<std::string, v1::GatewayChargeRecord> charge_of;  // By txn id.
  int64_t net_charged = 0;
  for (const auto& c : *charges) {
    net_charged += c.amount_minor() - c.refunded_minor();
    EXPECT_LE(c.refunded_minor(), c.amount_minor()) << c.charge_id() << " refunded twice";
    charge_of[c.charge_id().substr(0, c.charge_id().find('/'))] = c;
  }
  int64_t receivables = 0;
  auto journal = stack_.Journal();
  ASSERT_TRUE(journal.ok());
  for (const auto& entry : *journal) {
    for (const auto& line : entry.lines()) {
      if (line.account() == client::kCardReceivables) {
        receivables += line.debit_minor() - line.credit_minor();
      }
    }
  }
  auto shop = stack_.Account("shop");
  ASSERT_TRUE(shop.ok());
  EXPECT_EQ(net_charged, receivables) << "gateway and ledger disagree (seed " << seed_ << ")";
  EXPECT_EQ(net_charged, shop->available_minor()) << "seed " << seed_;
  EXPECT_EQ(shop->held_minor(), 0);

  absl::MutexLock lock(&mu_);
  int committed = 0, aborted = 0, unknown = 0;
  for (const auto& [key, paid] : paid_) {
    SCOPED_TRACE(key);
    auto it = by_key.find(key);
    if (paid.outcome == "UNKNOWN") {
      ++unknown;
      if (it == by_key.end()) continue;  // Never began: nothing anywhere.
    }
    ASSERT_NE(it, by_key.end()) << "a saga a client was answered for is not in the log";
    const v1::Transaction& t = it->second;
    ASSERT_TRUE(t.state() == v1::TXN_STATE_COMMITTED || t.state() == v1::TXN_STATE_ABORTED)
        << v1::TxnState_Name(t.state());
    const bool is_committed = t.state() == v1::TXN_STATE_COMMITTED;
    if (paid.outcome == "COMMITTED") {
      EXPECT_TRUE(is_committed);
    }
    if (paid.outcome == "ABORTED" || paid.declined_card || paid.refused_receipt) {
      EXPECT_FALSE(is_committed);
    }
    auto charge = charge_of.find(t.txn_id());
    const int64_t kept = charge == charge_of.end()
                             ? 0
                             : charge->second.amount_minor() - charge->second.refunded_minor();
    if (is_committed) {
      ++committed;
      ASSERT_NE(charge, charge_of.end());
      EXPECT_EQ(kept, charge->second.amount_minor()) << "a committed payment was refunded";
    } else {
      ++aborted;
      EXPECT_EQ(kept, 0) << "an aborted saga kept the card's money";
      if (paid.declined_card) {
        EXPECT_EQ(charge, charge_of.end()) << "a declined card charged";
      }
    }
  }
  std::printf("saga check: %zu card payments (%d committed, %d aborted, %d unknown to the "
              "client); %d kills; gateway net %lld = ledger card receivables %lld = shop %lld\n",
              paid_.size(), committed, aborted, unknown, faults,
              static_cast<long long>(net_charged), static_cast<long long>(receivables),
              static_cast<long long>(shop->available_minor()));
  EXPECT_GT(committed, 5);
  EXPECT_GT(aborted, 5);
}

}  // namespace
}  // namespace settle
