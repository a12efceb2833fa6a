// Roles on every method: each method of the coordinator and of a participant, called with each
// role's bearer token and with none, is let through or refused exactly as this file's table
// says; a client certificate's name is an identity too; payments run with every link
// authorized; every operator command is in the audit trail, with who, when and why, and stays
// there across a kill -9.

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "launch/test_pki.h"
#include "settle/v1/reference.pb.h"
#include "tests/testing/blackhole.h"
#include "tests/testing/http_client.h"
#include "tests/testing/raw_call.h"

namespace settle {
namespace {

using launch::CertFiles;
using launch::TestPki;

// Which roles may call each method: written out here, apart from common/access.cc, so that a
// change to the production table shows up as a failure.
const std::map<std::string, std::set<std::string>>& Expected() {
  static const auto* table = new std::map<std::string, std::set<std::string>>{
      {"settle.v1.Coordinator/Execute", {"caller", "coordinator"}},
      {"settle.v1.Coordinator/GetTransaction", {"caller", "operator", "viewer"}},
      {"settle.v1.Coordinator/ListTransactions", {"caller", "operator", "viewer"}},
      {"settle.v1.Coordinator/AbortTransaction", {"operator"}},
      {"settle.v1.Coordinator/RetryTransaction", {"operator"}},
      {"settle.v1.Coordinator/ResolveTransaction", {"operator"}},
      {"settle.v1.Coordinator/ListOperatorCommands", {"operator", "viewer"}},
      {"settle.v1.Coordinator/DrainShard", {"operator"}},
      {"settle.v1.Coordinator/GetFigures", {"operator", "viewer"}},
      {"settle.v1.Registry/RegisterParticipant", {"operator"}},
      {"settle.v1.Registry/DeregisterParticipant", {"operator"}},
      {"settle.v1.Registry/ListParticipants", {"operator", "viewer"}},
      {"settle.v1.DecisionService/GetDecision", {"participant"}},
      {"settle.v1.Participant/Prepare", {"coordinator"}},
      {"settle.v1.Participant/Commit", {"coordinator"}},
      {"settle.v1.Participant/Abort", {"coordinator"}},
      {"settle.v1.Participant/Act", {"coordinator"}},
      {"settle.v1.Participant/Compensate", {"coordinator"}},
      {"settle.v1.Participant/PreCommit", {"coordinator"}},
      {"settle.v1.Participant/Batch", {"coordinator"}},
      {"settle.v1.Participant/GetBranchState", {"coordinator", "participant"}},
      {"settle.v1.ParticipantInspect/ListBranches", {"operator"}},
      {"settle.v1.BalanceAdmin/OpenAccount", {"operator"}},
      {"settle.v1.BalanceAdmin/GetAccount", {"operator"}},
      {"settle.v1.BalanceAdmin/ListAccounts", {"operator"}},
  };
  return *table;
}

// Identities with tokens, and their roles line ("" : a known token without any role).
const std::map<std::string, std::string>& Identities() {
  static const auto* ids = new std::map<std::string, std::string>{
      {"payment-api", "caller"},      {"ops", "operator"},
      {"balance-svc", "participant"}, {"settle", "coordinator"},
      {"harness", "caller,operator"}, {"nobody", ""},
      {"watcher", "viewer"},
  };
  return *ids;
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto access = launch::TestAccess::Create(dir_.path(), Identities(),
                                             "ops.example operator\nCN=batch-payer  caller\n");
    ASSERT_TRUE(access.ok()) << access.status();
    access_ = std::make_unique<launch::TestAccess>(*std::move(access));
    ca_ = &access_->ca();
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  std::vector<std::string> ServerFlags(bool client_auth) const {
    return access_->ServerFlags(client_auth);
  }

  // A client of `identity`'s token ("" : no token), with `cert` if given.
  TlsOptions As(const std::string& identity, const CertFiles& cert = {}) const {
    return access_->As(identity, cert);
  }

  // The coordinator and the three transfer participants, each calling with its own token.
  void StartStack(std::vector<std::string> coordinator_flags = {}) {
    stack_.EnableTls(As("harness"), ServerFlags(/*client_auth=*/false));
    coordinator_flags.push_back("--call_token_file=" + Path("settle.token"));
    ASSERT_TRUE(stack_.StartCoordinator(coordinator_flags).ok());
    for (const char* name : {"balance", "ledger", "notification"}) {
      ASSERT_TRUE(
          stack_.StartParticipant(name, {"--call_token_file=" + Path("balance-svc.token")}).ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
  }

  // `method` ("package.Service/Method") at `target` with an empty request, as `tls`.
  static grpc::Status Call(const std::string& target, const std::string& method,
                           const TlsOptions& tls) {
    grpc::GenericStub stub(grpc::CreateChannel(target, ChannelCredentials(tls)));
    return testing::RawCall(stub, "/" + method, "", absl::Seconds(10));
  }

  // A request to the coordinator's HTTP port over TLS, with `identity`'s token ("" : none).
  testing::HttpRequest Https(const std::string& path, const std::string& body,
                             const std::string& identity, const CertFiles& cert = {}) const {
    testing::HttpRequest r;
    r.path = path;
    r.body = body;
    if (!identity.empty()) r.token = access_->Token(identity);
    r.ca_file = ca_->ca_file();
    r.cert_file = cert.cert;
    r.key_file = cert.key;
    return r;
  }

  launch::TempDir dir_;
  std::unique_ptr<launch::TestAccess> access_;
  const TestPki* ca_ = nullptr;  // access_'s.
  launch::LocalStack stack_;
};

TEST_F(AccessTest, EveryMethodAndEveryRoleAsTheTableSays) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  const auto services = stack_.ServicesOfCoordinatorAndBalance();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  v1::Account linked;  // Links reference.proto's descriptors into this binary.
  int calls = 0;
  for (const auto& [service_name, target] : services) {
    const auto* service = pool->FindServiceByName(service_name);
    ASSERT_NE(service, nullptr) << service_name;
    for (int m = 0; m < service->method_count(); ++m) {
      const std::string method = service_name + "/" + service->method(m)->name();
      auto expected = Expected().find(method);
      ASSERT_NE(expected, Expected().end()) << method << " is missing from this test's table";
      grpc::Status none = Call(target, method, As(""));
      EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
      for (const auto& [identity, roles] : Identities()) {
        bool allowed = false;
        for (const std::string& role : expected->second) {
          allowed |= roles.find(role) != std::string::npos;
        }
        grpc::Status s = Call(target, method, As(identity));
        ++calls;
        if (allowed) {
          EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
              << method << " as " << identity << ": " << s.error_message();
          EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
        } else {
          EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
              << method << " as " << identity << ": " << s.error_message();
          EXPECT_NE(s.error_message().find(identity), std::string::npos) << s.error_message();
        }
      }
    }
  }
  EXPECT_EQ(calls, static_cast<int>(Identities().size() * Expected().size()));
  // A token nobody was given, and a health check without any credential.
  std::ofstream(Path("forged.token")) << "forged\n";
  TlsOptions forged = As("");
  forged.call_token_file = Path("forged.token");
  EXPECT_EQ(Call(stack_.coordinator_endpoint(), "settle.v1.Coordinator/ListTransactions", forged)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Call(stack_.coordinator_endpoint(), "grpc.health.v1.Health/Check", As("")).ok());
}

TEST_F(AccessTest, APaymentRunsWithEveryLinkAuthorized) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  ASSERT_TRUE(stack_.OpenAccount("alice", 1000).ok());
  ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  auto payer = client::SettleClient::Connect(stack_.coordinator_endpoint(), As("payment-api"));
  auto r = payer->Execute(client::MakeTransfer("access-1", "alice", "bob", 250));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_COMMITTED);
  EXPECT_TRUE(launch::WaitFor([&] {
    auto bob = stack_.Account("bob");
    return bob.ok() && bob->available_minor() == 250;
  }));
  // The payment API may not abort, even its own payment.
  auto abort = payer->AbortTransaction(r->txn_id(), "mine");
  EXPECT_EQ(abort.status().code(), absl::StatusCode::kPermissionDenied) << abort.status();
}

TEST_F(AccessTest, AClientCertificateNamesItsHolder) {
  auto ops = ca_->Issue("ops-cert", "DNS:ops.example");
  ASSERT_TRUE(ops.ok()) << ops.status();
  auto stranger = ca_->Issue("stranger", "DNS:stranger.example");
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  stack_.EnableTls(As("harness"), ServerFlags(/*client_auth=*/true));
  ASSERT_TRUE(stack_.StartCoordinator().ok());
  const std::string at = stack_.coordinator_endpoint();
  // The certificate's SAN is in the roles file as an operator: operators' methods pass the
  // access check (and answer for themselves), callers' are refused naming the identity.
  grpc::Status s = Call(at, "settle.v1.Coordinator/ListOperatorCommands", As("", *ops));
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Call(at, "settle.v1.Coordinator/Execute", As("", *ops));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("ops.example"), std::string::npos) << s.error_message();
  // A certificate the CA signed but the roles file does not name may call nothing.
  s = Call(at, "settle.v1.Coordinator/ListTransactions", As("", *stranger));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  // The subject names the holder too, when no SAN is in the roles file.
  auto batch = ca_->Issue("batch-payer", "DNS:unlisted.example");
  ASSERT_TRUE(batch.ok()) << batch.status();
  s = Call(at, "settle.v1.Coordinator/Execute", As("", *batch));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  // A token outranks the certificate it comes with.
  s = Call(at, "settle.v1.Coordinator/Execute", As("payment-api", *ops));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST_F(AccessTest, OperatorCommandsAreAuditedWithWhoWhenAndWhy) {
  ASSERT_NO_FATAL_FAILURE(StartStack());
  const absl::Time before = absl::Now();
  auto ops = client::SettleClient::Connect(stack_.coordinator_endpoint(), As("ops"));
  EXPECT_EQ(ops->AbortTransaction("no-such-txn", "customer called").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(ops->RegisterParticipant("extra", "127.0.0.1:9").ok());
  ASSERT_TRUE(ops->DeregisterParticipant("extra").ok());
  // The caller's role may not read the trail.
  auto payer = client::SettleClient::Connect(stack_.coordinator_endpoint(), As("payment-api"));
  EXPECT_EQ(payer->ListOperatorCommands({}).status().code(),
            absl::StatusCode::kPermissionDenied);

  auto by_ops = [&]() -> std::vector<v1::OperatorCommand> {
    auto page = ops->ListOperatorCommands({});
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<v1::OperatorCommand> out;
    if (!page.ok()) return out;
    for (const auto& c : page->commands()) {
      if (c.who() == "ops") out.push_back(c);
    }
    return out;
  };
  auto check = [&](const std::vector<v1::OperatorCommand>& cs) {
    ASSERT_EQ(cs.size(), 3u);
    EXPECT_EQ(cs[0].action(), "abort");
    EXPECT_EQ(cs[0].target(), "no-such-txn");
    EXPECT_EQ(cs[0].reason(), "customer called");
    EXPECT_TRUE(cs[0].finished());
    EXPECT_EQ(cs[0].code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
    EXPECT_EQ(cs[1].action(), "register");
    EXPECT_EQ(cs[1].target(), "extra");
    EXPECT_EQ(cs[1].reason(), "127.0.0.1:9");
    EXPECT_EQ(cs[1].code(), 0);
    EXPECT_EQ(cs[2].action(), "deregister");
    for (const auto& c : cs) {
      EXPECT_GE(c.time().seconds(), absl::ToUnixSeconds(before) - 1);
    }
  };
  check(by_ops());
  // The harness registered the participants: its identity is on those entries.
  auto all = ops->ListOperatorCommands({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->commands(0).who(), "harness");
  EXPECT_EQ(all->commands(0).action(), "register");

  stack_.coordinator().Signal(SIGKILL);
  stack_.coordinator().Wait(absl::Seconds(30));
  ASSERT_TRUE(stack_.StartCoordinator({"--call_token_file=" + Path("settle.token")}).ok());
  ops = client::SettleClient::Connect(stack_.coordinator_endpoint(), As("ops"));
  check(by_ops());
}

// The HTTP port (open to the network here: TLS and a roles file) runs the same access check on
// the same table, and its operators' commands are audited under the identity it checked.
TEST_F(AccessTest, TheHttpPortChecksTheSameTokensAndRolesAndAuditsWho) {
  ASSERT_NO_FATAL_FAILURE(StartStack({"--http_listen=0.0.0.0:0"}));
  ASSERT_TRUE(stack_.OpenAccount("alice", 1000).ok());
  ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  const std::string at = stack_.coordinator_http_endpoint();
  const std::string list = "/settle.v1.Coordinator/ListTransactions";
  EXPECT_EQ(testing::SendHttp(at, Https(list, "{}", "")).status, 401);
  EXPECT_EQ(testing::SendHttp(at, Https(list, "{}", "nobody")).status, 403);
  testing::HttpRequest plain = Https(list, "{}", "payment-api");
  plain.ca_file.clear();
  EXPECT_NE(testing::SendHttp(at, plain).status, 200) << "plaintext reached a TLS port";

  std::string transfer;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(
                  client::MakeTransfer("http-access-1", "alice", "bob", 250), &transfer)
                  .ok());
  testing::HttpAnswer a =
      testing::SendHttp(at, Https("/settle.v1.Coordinator/Execute", transfer, "payment-api"));
  ASSERT_EQ(a.status, 200) << a.body;
  v1::ExecuteResponse paid;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &paid).ok()) << a.body;
  EXPECT_EQ(paid.outcome(), v1::OUTCOME_COMMITTED);
  // The payment API may not abort, even its own payment.
  const std::string abort_body =
      absl::StrCat(R"({"txnId": ")", paid.txn_id(), R"(", "reason": "mine"})");
  a = testing::SendHttp(
      at, Https("/settle.v1.Coordinator/AbortTransaction", abort_body, "payment-api"));
  EXPECT_EQ(a.status, 403) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "payment-api")) << a.body;

  a = testing::SendHttp(at, Https("/settle.v1.Coordinator/AbortTransaction",
                                  R"({"txnId": "s0-nope", "reason": "customer called"})", "ops"));
  EXPECT_EQ(a.status, 404) << a.body;
  a = testing::SendHttp(at, Https("/settle.v1.Coordinator/ListOperatorCommands", "{}", "ops"));
  ASSERT_EQ(a.status, 200) << a.body;
  v1::ListOperatorCommandsResponse audit;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &audit).ok()) << a.body;
  int aborts = 0;
  for (const auto& c : audit.commands()) {
    if (c.action() != "abort") continue;
    ++aborts;
    EXPECT_EQ(c.who(), "ops");
    EXPECT_EQ(c.reason(), "customer called");
    EXPECT_EQ(c.code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  }
  EXPECT_EQ(aborts, 1) << a.body;
}

TEST_F(AccessTest, TheHttpPortNamesAClientCertificatesHolderAsGrpcDoes) {
  auto ops = ca_->Issue("ops-cert", "DNS:ops.example");
  ASSERT_TRUE(ops.ok()) << ops.status();
  auto stranger = ca_->Issue("stranger", "DNS:stranger.example");
  ASSERT_TRUE(stranger.ok()) << stranger.status();
  auto batch = ca_->Issue("batch-payer", "DNS:unlisted.example");
  ASSERT_TRUE(batch.ok()) << batch.status();
  stack_.EnableTls(As("harness"), ServerFlags(/*client_auth=*/true));
  ASSERT_TRUE(stack_.StartCoordinator({"--http_listen=127.0.0.1:0"}).ok());
  const std::string at = stack_.coordinator_http_endpoint();
  const std::string audit = "/settle.v1.Coordinator/ListOperatorCommands";
  const std::string execute = "/settle.v1.Coordinator/Execute";
  EXPECT_EQ(testing::SendHttp(at, Https(audit, "{}", "", *ops)).status, 200);
  testing::HttpAnswer a = testing::SendHttp(at, Https(execute, "{}", "", *ops));
  EXPECT_EQ(a.status, 403) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "ops.example")) << a.body;
  EXPECT_EQ(testing::SendHttp(at, Https(audit, "{}", "", *stranger)).status, 403);
  // The subject ("CN=batch-payer") names the holder too: a caller, who reaches validation.
  a = testing::SendHttp(at, Https(execute, "{}", "", *batch));
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "idempotency_key")) << a.body;
  // Without a certificate, no TLS connection at all.
  EXPECT_EQ(testing::SendHttp(at, Https(audit, "{}", "ops")).status, 0);

  // Callers that hang up before their answer: a participant that accepts connections and never
  // answers holds each payment for its 1 s timeout, the callers give up after 0.2 s, and the
  // coordinator's answers go to closed connections. Its writes fail and it goes on (OpenSSL
  // writes through write(), where a SIGPIPE would end it).
  testing::Blackhole blackhole;
  ASSERT_TRUE(blackhole.ok());
  a = testing::SendHttp(at, Https("/settle.v1.Registry/RegisterParticipant",
                                  absl::StrCat(R"({"name": "blackhole", "endpoint": ")",
                                               blackhole.endpoint(), R"("})"),
                                  "", *ops));
  ASSERT_EQ(a.status, 200) << a.body;
  for (int i = 0; i < 5; ++i) {
    testing::HttpRequest hasty =
        Https(execute,
              absl::StrCat(R"({"idempotencyKey": "hasty-)", i,
                           R"(", "timeout": "1s", "branches": [{"participant": "blackhole"}]})"),
              "", *batch);
    hasty.read_timeout_ms = 200;
    EXPECT_EQ(testing::SendHttp(at, hasty).status, 0) << "answered before the caller hung up";
  }
  ASSERT_TRUE(launch::WaitFor([&] {
    v1::ListTransactionsResponse listed;
    a = testing::SendHttp(
        at, Https("/settle.v1.Coordinator/ListTransactions",
                  R"({"states": ["TXN_STATE_ABORTING", "TXN_STATE_ABORTED"]})", "", *batch));
    return a.status == 200 && google::protobuf::util::JsonStringToMessage(a.body, &listed).ok() &&
           listed.transactions_size() == 5;
  })) << "the hasty payments did not end (or the coordinator died): "
      << a.body;
  blackhole.Close();
  EXPECT_EQ(testing::SendHttp(at, Https(audit, "{}", "", *ops)).status, 200);
  EXPECT_FALSE(stack_.coordinator().Wait(absl::ZeroDuration()).has_value())
      << "the coordinator died";
}

}  // namespace
}  // namespace settle
