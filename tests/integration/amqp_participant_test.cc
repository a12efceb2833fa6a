// The participant protocol through RabbitMQ: the real coordinator and participants, the balance
// participant registered as amqp:<queue> and serving its calls from a real broker the test
// starts on loopback (or the test skips loudly). The same result contract as over gRPC:
// payments commit and abort; a call waits in the queue for a participant that is down; a
// duplicated, redelivered or late call has one effect (or none); an answer lost with the broker
// is never taken as a vote.

#include <csignal>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
#include "launch/local_stack.h"
#include "launch/rabbitmq_broker.h"
#include "messaging/amqp_rpc.h"

namespace settle {
namespace {

using launch::WaitFor;

constexpr char kQueue[] = "settle.participant.balance";

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
}

class AmqpParticipantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SETTLE_START_BROKER_OR_SKIP(broker_, stack_.dir() + "/broker");
    ASSERT_TRUE(stack_.StartCoordinator(broker_->ClientFlags()).ok());
    ASSERT_TRUE(stack_.StartParticipant("balance", BalanceFlags()).ok());
    ASSERT_TRUE(stack_.StartParticipant("ledger").ok());
    ASSERT_TRUE(stack_.StartParticipant("notification").ok());
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.RegisterAt("balance", absl::StrCat("amqp:", kQueue)).ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 100000).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  }

  std::vector<std::string> BalanceFlags() const {
    std::vector<std::string> flags = broker_->ClientFlags();
    flags.push_back(absl::StrCat("--amqp_requests=", kQueue));
    return flags;
  }

  // Waits for every participant's acknowledgement unless `wait_for_acks` is false (the decision
  // only: an abort cannot reach a participant while the broker is away).
  absl::StatusOr<v1::ExecuteResponse> Pay(const std::string& key, int64_t amount,
                                          bool wait_for_acks = true) {
    v1::ExecuteRequest req = client::MakeTransfer(key, "alice", "bob", amount);
    req.set_wait_for_acks(wait_for_acks);
    return stack_.client().Execute(req);
  }

  int64_t Total() {
    return stack_.Account("alice")->available_minor() + stack_.Account("bob")->available_minor();
  }

  // Every committed payment is in the ledger's journal and moved its money; nothing else did.
  void ExpectBooksMatch(const std::set<std::string>& committed, int64_t amount) {
    auto journal = stack_.Journal();
    ASSERT_TRUE(journal.ok()) << journal.status();
    std::set<std::string> journaled;
    for (const auto& e : *journal) journaled.insert(e.txn_id());
    EXPECT_EQ(journaled, committed);
    EXPECT_EQ(stack_.Account("bob")->available_minor(),
              static_cast<int64_t>(committed.size()) * amount);
    EXPECT_EQ(Total(), 100000);
    EXPECT_EQ(stack_.Account("alice")->held_minor(), 0);
  }

  double CoordinatorMetric(const std::string& series) {
    return launch::MetricSample(stack_.coordinator_metrics_endpoint(), series);
  }

  launch::LocalStack stack_;
  // After the stack, so destroyed before it: its folder is inside the stack's.
  std::unique_ptr<launch::RabbitMqBroker> broker_;
};

TEST_F(AmqpParticipantTest, PaymentsCommitAndAbortThroughTheBroker) {
  std::set<std::string> committed;
  for (int i = 0; i < 12; ++i) {
    const bool overdraw = i % 4 == 3;
    auto r = Pay(absl::StrCat("p-", i), overdraw ? 10000000 : 25);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->outcome(), overdraw ? v1::OUTCOME_ABORTED : v1::OUTCOME_COMMITTED) << i;
    if (r->outcome() == v1::OUTCOME_COMMITTED) committed.insert(r->txn_id());
    if (overdraw) {
      EXPECT_NE(r->reason().find("insufficient"), std::string::npos) << r->reason();
    }
  }
  EXPECT_EQ(committed.size(), 9u);
  ExpectBooksMatch(committed, 25);
  // 12 Prepares and 9 Commits at least, all answered through the broker.
  EXPECT_GE(CoordinatorMetric("settle_amqp_calls_total{result=\"answered\"}"), 21);
  EXPECT_EQ(CoordinatorMetric("settle_amqp_connected"), 1);
  EXPECT_GE(launch::MetricSample(stack_.participant_metrics_endpoint("balance"),
                                  "settle_participant_amqp_requests_total{result=\"served\"}"),
            21);
  // Three-phase commit's termination protocol needs every branch on gRPC: refused up front.
  v1::ExecuteRequest three = client::MakeTransfer("three", "alice", "bob", 5);
  three.set_mode(v1::MODE_THREE_PHASE);
  auto refused = stack_.client().Execute(three);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("'balance'"), std::string::npos) << refused.status();
}

// The participant killed -9: calls wait for it in its durable queue. A payment started while
// it is down commits once it is back within the payment's deadline.
TEST_F(AmqpParticipantTest, ACallWaitsInTheQueueForAParticipantThatIsDown) {
  stack_.participant("balance").Signal(SIGKILL);
  ASSERT_TRUE(stack_.participant("balance").Wait(absl::Seconds(30)).has_value());
  absl::StatusOr<v1::ExecuteResponse> result;
  std::thread payer([&] {
    v1::ExecuteRequest req = client::MakeTransfer("while-down", "alice", "bob", 40);
    req.mutable_timeout()->set_seconds(60);
    req.set_wait_for_acks(true);
    result = stack_.client().Execute(req);
  });
  // The Prepare has left the coordinator: the payment is preparing, with nobody to answer.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto active = stack_.ActiveTransactions();
        return active.ok() && !active->empty();
      },
      absl::Seconds(20)));
  ASSERT_TRUE(stack_.StartParticipant("balance", BalanceFlags()).ok());
  payer.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome(), v1::OUTCOME_COMMITTED) << result->reason();
  ExpectBooksMatch({result->txn_id()}, 40);
}

// The broker stopped, then killed -9, under payments: the calls it held or whose answers it
// lost are never counted as votes; payments abort (or wait) and commit again once it is back,
// and the books match.
TEST_F(AmqpParticipantTest, AnAnswerLostWithTheBrokerIsNeverAVote) {
  std::set<std::string> committed;
  int n = 0;
  auto pay_some = [&](int count, bool expect_commit) {
    for (int i = 0; i < count; ++i) {
      auto r = Pay(absl::StrCat("b-", n++), 10, /*wait_for_acks=*/expect_commit);
      if (!expect_commit && !r.ok()) {
        // Refused while the participant cannot be reached: nothing happened.
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->outcome() == v1::OUTCOME_COMMITTED) committed.insert(r->txn_id());
      if (expect_commit) {
        EXPECT_EQ(r->outcome(), v1::OUTCOME_COMMITTED) << r->reason();
      }
    }
  };
  pay_some(5, true);
  for (const bool kill : {false, true}) {
    SCOPED_TRACE(kill ? "killed -9" : "stopped");
    ASSERT_TRUE((kill ? broker_->Kill() : broker_->Stop()).ok());
    pay_some(4, false);
    ASSERT_TRUE(broker_->Restart().ok());
    // Both ends reconnect by themselves; then payments commit again.
    ASSERT_TRUE(WaitFor([&] { return CoordinatorMetric("settle_amqp_connected") == 1; },
                        absl::Seconds(30)));
    ASSERT_TRUE(WaitFor(
        [&] {
          auto r = Pay(absl::StrCat("b-", n++), 10);
          if (r.ok() && r->outcome() == v1::OUTCOME_COMMITTED) committed.insert(r->txn_id());
          return r.ok() && r->outcome() == v1::OUTCOME_COMMITTED;
        },
        absl::Seconds(60)));
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        auto active = stack_.ActiveTransactions();
        return active.ok() && active->empty();
      },
      absl::Seconds(60)));
  ExpectBooksMatch(committed, 10);
  EXPECT_GT(CoordinatorMetric("settle_amqp_calls_total{result=\"lost\"}") +
                CoordinatorMetric("settle_amqp_calls_total{result=\"refused\"}") +
                CoordinatorMetric("settle_amqp_calls_total{result=\"timed_out\"}"),
            0);
}

// Calls published straight to the participant's queue, as a duplicating or late broker would
// deliver them: each has one effect, a late one none, a malformed one a precise error.
class AmqpCallTest : public AmqpParticipantTest {
 protected:
  void SetUp() override {
    AmqpParticipantTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    messaging::AmqpOptions options;
    options.port = broker_->port();
    auto channel = messaging::RpcChannel::Connect(options);
    ASSERT_TRUE(channel.ok()) << channel.status();
    channel_ = std::move(*channel);
    auto q = channel_->DeclareReplyQueue();
    ASSERT_TRUE(q.ok()) << q.status();
    reply_queue_ = *q;
    ASSERT_TRUE(channel_->Consume(reply_queue_, 0).ok());
    payload_ = client::MakeTransfer("k", "alice", "bob", 100).branches(0).payload();
  }

  void Send(const std::string& id, const std::string& method, const google::protobuf::Message& m,
            absl::Time deadline) {
    v1::ParticipantCall call;
    call.set_method(method);
    call.set_request(m.SerializeAsString());
    SetTime(deadline, call.mutable_deadline());
    ASSERT_TRUE(channel_->Publish({kQueue, id, reply_queue_, call.SerializeAsString(), true}).ok());
  }

  // Replies by correlation id, until `n` have come or 30 s passed.
  std::map<std::string, v1::ParticipantReply> Replies(size_t n) {
    std::map<std::string, v1::ParticipantReply> out;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (out.size() < n && absl::Now() < deadline) {
      auto e = channel_->Wait(absl::Milliseconds(200), waker_);
      EXPECT_TRUE(e.ok()) << e.status();
      if (!e.ok()) break;
      if (e->kind != messaging::RpcEvent::Kind::kDelivery) continue;
      EXPECT_TRUE(out[e->correlation_id].ParseFromString(e->body));
    }
    return out;
  }

  messaging::RpcWaker waker_;
  std::unique_ptr<messaging::RpcChannel> channel_;
  std::string reply_queue_;
  std::string payload_;
};

TEST_F(AmqpCallTest, DuplicatedCallsHaveOneEffectAndLateOnesNone) {
  const absl::Time later = absl::Now() + absl::Minutes(1);
  v1::PrepareRequest prepare;
  prepare.set_txn_id("s0-000000000000d0b1");
  prepare.set_participant("balance");
  prepare.set_payload(payload_);
  SetTime(later, prepare.mutable_deadline());
  Send("prepare-1", "Prepare", prepare, later);
  Send("prepare-2", "Prepare", prepare, later);  // A duplicate.
  auto replies = Replies(2);
  ASSERT_EQ(replies.size(), 2u);
  for (const auto& [id, reply] : replies) {
    EXPECT_EQ(reply.code(), 0) << id << ": " << reply.message();
    v1::PrepareResponse vote;
    ASSERT_TRUE(vote.ParseFromString(reply.response()));
    EXPECT_EQ(vote.vote(), v1::VOTE_YES) << id;
  }
  EXPECT_EQ(stack_.Account("alice")->held_minor(), 100);  // Reserved once.
  v1::CommitRequest commit;
  commit.set_txn_id(prepare.txn_id());
  Send("commit-1", "Commit", commit, later);
  Send("commit-2", "Commit", commit, later);
  replies = Replies(2);
  ASSERT_EQ(replies.size(), 2u);
  for (const auto& [id, reply] : replies) EXPECT_EQ(reply.code(), 0) << id << reply.message();
  EXPECT_EQ(stack_.Account("bob")->available_minor(), 100);  // Moved once.
  EXPECT_EQ(stack_.Account("alice")->held_minor(), 0);

  // A Prepare read after its deadline is dropped unanswered, and reserves nothing; a call that
  // is not a ParticipantCall is answered INVALID_ARGUMENT; an unknown method names itself.
  prepare.set_txn_id("s0-000000000000a7e1");
  Send("late", "Prepare", prepare, absl::Now() - absl::Seconds(1));
  ASSERT_TRUE(channel_->Publish({kQueue, "garbage", reply_queue_, "\xff\xff", true}).ok());
  Send("unknown", "Transfer", commit, later);
  // They are read in order, so the late one's reply, if any, would come before the others'.
  replies = Replies(2);
  EXPECT_EQ(replies.count("late"), 0u);
  ASSERT_EQ(replies.count("garbage"), 1u);
  EXPECT_EQ(replies["garbage"].code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  ASSERT_EQ(replies.count("unknown"), 1u);
  EXPECT_EQ(replies["unknown"].code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(replies["unknown"].message().find("Transfer"), std::string::npos);
  EXPECT_EQ(stack_.Account("alice")->held_minor(), 0);
  EXPECT_GE(launch::MetricSample(stack_.participant_metrics_endpoint("balance"),
                                  "settle_participant_amqp_requests_total{result=\"expired\"}"),
            1);
}

}  // namespace
}  // namespace settle
