// The SDKs outside C++ (sdk/python, sdk/node) as a payment platform runs them, the same tests
// for each language: its example participant (loyalty points on a real PostgreSQL server)
// passes the contract kit, writes barrier rows the C++ SDK reads, refuses to start as the C++
// participants do, joins payments with the C++ balance participant in two-phase and saga
// transactions started by its example caller, resolves an in-doubt branch through the
// coordinator, and keeps every payment whole when it and the coordinator are killed -9 under
// load.

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/credentials.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "launch/postgres_server.h"
#include "launch/test_pki.h"
#include "launch/wait.h"
#include "proto/time_convert.h"
#include "settle/v1/reference.pb.h"

namespace settle {
namespace {

using launch::LocalStack;

// An example program (`example`: "points" or "pay") of the SDK in `language`: Debian's python3 on the
// generated package, or node on the compiled TypeScript.
std::vector<std::string> ExampleArgs(const std::string& language, const std::string& example,
                                     const std::vector<std::string>& flags) {
  const std::string sdk = std::string(SETTLE_SOURCE_DIR) + "/sdk/";
  std::vector<std::string> args =
      language == "python"
          ? std::vector<std::string>{"PYTHONPATH=" SETTLE_PYTHON_PATH, "/usr/bin/python3",
                                     sdk + "python/examples/" + example + ".py"}
          : std::vector<std::string>{"node", sdk + "node/dist/examples/" + example + ".js"};
  args.insert(args.end(), flags.begin(), flags.end());
  return args;
}

// A PostgreSQL server, the stack, and example points participants by name (each on its own
// database of that name).
class SdkStackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SETTLE_START_POSTGRES_OR_SKIP(server_);
    ASSERT_TRUE(server_->CreateDatabase("bank").ok());
  }

  // Starts (or restarts, on the same port) the example points participant of `language` as
  // `name`; alice has 1000 points there.
  void StartExample(const std::string& name, const std::string& language,
                    std::vector<std::string> flags = {}) {
    Running& e = examples_[name];
    if (e.port == 0) {
      ASSERT_TRUE(server_->CreateDatabase(name).ok());
    }
    const std::string port_file = stack_.dir() + "/" + name + ".port";
    std::remove(port_file.c_str());
    flags.insert(flags.end(), {"--dsn=" + server_->Dsn(name), "--port_file=" + port_file,
                               "--name=" + name, "--open=alice=1000"});
    flags.insert(flags.end(), example_tls_.begin(), example_tls_.end());
    if (e.port != 0) flags.push_back(absl::StrCat("--listen=127.0.0.1:", e.port));
    const std::string log = stack_.dir() + "/" + name + ".log";
    auto p = launch::Process::Start("/usr/bin/env", ExampleArgs(language, "points", flags), log);
    ASSERT_TRUE(p.ok()) << p.status();
    e.process = *std::move(p);
    e.port = launch::WaitForPortFile(port_file, absl::Seconds(30), e.process.get());
    ASSERT_NE(e.port, 0) << launch::ReadFile(log);
  }
  // Skips the test, loudly, where the TypeScript SDK could not be built (npm or its registry out
  // of reach; sdk/node/build.sh wrote why). Call from SetUp or first.
  static void SkipWithoutNodeSdk() {
    const std::string why = launch::ReadFile(SETTLE_NODE_SDK_UNAVAILABLE);
    if (!why.empty()) GTEST_SKIP() << "the TypeScript SDK is not built here: " << why;
  }
  // An example started to join payments: asks the coordinator about in-doubt branches.
  void StartJoined(const std::string& name, const std::string& language) {
    StartExample(name, language,
                 {"--coordinator=" + stack_.coordinator_endpoint(), "--in_doubt_after=1"});
  }
  std::string Endpoint(const std::string& name) {
    return absl::StrCat("127.0.0.1:", examples_[name].port);
  }
  launch::Process& ExampleProcess(const std::string& name) { return *examples_.at(name).process; }

  // The coordinator and balance on PostgreSQL, with each of `examples` (name, language) joined
  // and registered; alice has 10000 money, shop nothing.
  void StartStack(const std::vector<std::pair<std::string, std::string>>& examples) {
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    ASSERT_TRUE(stack_.StartParticipant("balance", {"--store=" + server_->Dsn("bank")}).ok());
    for (const auto& [name, language] : examples) {
      ASSERT_NO_FATAL_FAILURE(StartJoined(name, language));
      ASSERT_TRUE(stack_.RegisterAt(name, Endpoint(name)).ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 10000).ok());
    ASSERT_TRUE(stack_.OpenAccount("shop", 0).ok());
  }

  std::string Sql(const std::string& database, const std::string& query) {
    auto r = server_->Query(database, query);
    return r.ok() ? std::string(absl::StripAsciiWhitespace(*r)) : r.status().ToString();
  }
  // alice's points at `name` as "available|held".
  std::string AlicePoints(const std::string& name = "points") {
    return Sql(name, "SELECT available, held FROM points_accounts WHERE account = 'alice'");
  }
  // alice's money as "available held".
  std::string AliceMoney() {
    auto a = stack_.Account("alice");
    return a.ok() ? absl::StrCat(a->available_minor(), " ", a->held_minor()) : a.status().ToString();
  }
  // Execute answers once the outcome is durable; the commits and aborts reach the participants
  // after it (the pay examples do not ask for wait_for_acks), so balances are awaited.
  bool AliceSettlesAt(const std::string& money, const std::string& points) {
    return launch::WaitFor([&] { return AliceMoney() == money && AlicePoints() == points; });
  }

  void KillAndRestartExample(const std::string& name, const std::string& language) {
    ExampleProcess(name).Signal(SIGKILL);
    ExampleProcess(name).Wait(absl::Seconds(10));
    ASSERT_NO_FATAL_FAILURE(StartJoined(name, language));
  }
  void KillAndRestartCoordinator() {
    stack_.coordinator().Signal(SIGKILL);
    stack_.coordinator().Wait(absl::Seconds(10));
    ASSERT_TRUE(stack_.StartCoordinator().ok());
  }
  void KillAndRestartBalance() {
    stack_.participant("balance").Signal(SIGKILL);
    stack_.participant("balance").Wait(absl::Seconds(10));
    ASSERT_TRUE(stack_.StartParticipant("balance", {"--store=" + server_->Dsn("bank")}).ok());
  }

  // The bank check: four payers each pay 10 money at balance and 1 point at each of `names` per
  // payment, in `modes` by turn, while each of `kills` runs after 20 more answers. Then
  // everything ends (nothing active, held or prepared anywhere), every committed payment moved
  // everything and every other nothing, and no three-phase payment committed (these SDKs refuse
  // PreCommit).
  void PayUnderKills(const std::vector<std::string>& names, const std::vector<v1::Mode>& modes,
                     const std::vector<std::function<void()>>& kills) {
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::vector<std::thread> payers;
    for (int t = 0; t < 4; ++t) {
      payers.emplace_back([&, t] {
        // Its own client: the stack's is replaced when the coordinator restarts (same port).
        auto client = client::SettleClient::Connect(stack_.coordinator_endpoint());
        for (int i = 0; !stop.load(); ++i) {
          v1::ExecuteRequest req;
          req.set_idempotency_key(absl::StrCat("load-", t, "-", i));
          req.mutable_timeout()->set_seconds(2);
          req.set_mode(modes[(t + i) % modes.size()]);
          v1::BalancePayload money;
          money.add_postings()->set_account("alice");
          money.mutable_postings(0)->set_amount_minor(-10);
          money.add_postings()->set_account("shop");
          money.mutable_postings(1)->set_amount_minor(10);
          auto* b = req.add_branches();
          b->set_participant("balance");
          b->set_payload(money.SerializeAsString());
          for (const std::string& name : names) {
            b = req.add_branches();
            b->set_participant(name);
            b->set_payload(R"({"account": "alice", "points": -1})");
          }
          client::RetryOptions retry;
          retry.max_attempts = 1;  // A lost answer leaves the key for the checks below.
          if (client->Execute(req, retry).ok()) answered.fetch_add(1);
        }
      });
    }
    auto answered_more = [&](int n) {
      const int from = answered.load();
      return launch::WaitFor([&] { return answered.load() >= from + n; }, absl::Seconds(60));
    };
    EXPECT_TRUE(answered_more(20));
    for (const auto& kill : kills) {
      kill();
      EXPECT_TRUE(answered_more(20));
    }
    stop = true;
    for (auto& t : payers) t.join();

    auto nothing_held = [&] {
      bool held = !absl::EndsWith(AliceMoney(), " 0");
      for (const std::string& name : names) held = held || !absl::EndsWith(AlicePoints(name), "|0");
      return !held;
    };
    EXPECT_TRUE(launch::WaitFor(
        [&] {
          auto active = stack_.ActiveTransactions();
          return active.ok() && active->empty() && nothing_held();
        },
        absl::Seconds(90)))
        << AliceMoney();
    v1::ListTransactionsRequest committed;
    committed.add_states(v1::TXN_STATE_COMMITTED);
    auto done = stack_.Transactions(committed);
    ASSERT_TRUE(done.ok()) << done.status();
    const int64_t n = static_cast<int64_t>(done->size());
    std::printf("bank check: %d payments answered, %lld committed, %zu kills\n", answered.load(),
                static_cast<long long>(n), kills.size());
    // At least half of the 20 answers per phase committed (three-phase ones never do).
    EXPECT_GE(n, 10 * static_cast<int64_t>(kills.size() + 1));
    for (const auto& txn : *done) EXPECT_NE(txn.mode(), v1::MODE_THREE_PHASE) << txn.txn_id();
    EXPECT_EQ(AliceMoney(), absl::StrCat(10000 - 10 * n, " 0"));
    for (const std::string& name : names) {
      EXPECT_EQ(AlicePoints(name), absl::StrCat(1000 - n, "|0")) << name;
      EXPECT_EQ(Sql(name, "SELECT count(*) FROM settle_barrier WHERE state = 'committed'"),
                absl::StrCat(n))
          << name;
      EXPECT_EQ(Sql(name, "SELECT count(*) FROM settle_kv WHERE space = 2"), "0") << name;
    }
  }

  struct Running {
    std::unique_ptr<launch::Process> process;
    int port = 0;
  };
  std::unique_ptr<launch::PostgresServer> server_;
  LocalStack stack_;
  std::map<std::string, Running> examples_;
  std::vector<std::string> example_tls_;  // The examples' --tls_* flags; none: plaintext.
};

// The same tests for each SDK (the parameter: "python" or "node"), its example as "points".
class SdkExampleTest : public SdkStackTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "node") SkipWithoutNodeSdk();
    if (!IsSkipped()) SdkStackTest::SetUp();
  }
  void StartPoints() { StartExample("points", GetParam()); }
  void StartMixedStack() { StartStack({{"points", GetParam()}}); }
  std::string PointsEndpoint() { return Endpoint("points"); }

  // pay's exit code and the JSON line it printed.
  std::pair<int, std::string> Pay(const std::string& key, int64_t amount, int64_t points,
                                  const std::string& mode = "two_phase",
                                  const std::vector<std::string>& tls = {}) {
    const std::string log = absl::StrCat(stack_.dir(), "/pay-", ++payments_, ".log");
    std::vector<std::string> flags = {"--coordinator=" + stack_.coordinator_endpoint(),
                                      "--key=" + key,
                                      "--buyer=alice",
                                      "--shop=shop",
                                      absl::StrCat("--amount_minor=", amount),
                                      absl::StrCat("--points=", points),
                                      "--mode=" + mode};
    flags.insert(flags.end(), tls.begin(), tls.end());
    auto p = launch::Process::Start("/usr/bin/env", ExampleArgs(GetParam(), "pay", flags), log);
    if (!p.ok()) return {-1, p.status().ToString()};
    std::optional<int> status = (*p)->Wait(absl::Seconds(60));
    return {status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1,
            std::string(absl::StripAsciiWhitespace(launch::ReadFile(log)))};
  }

  int payments_ = 0;  // Runs of pay, naming their logs.
};

TEST_P(SdkExampleTest, PointsPassesTheKitAndItsBarrierRowsAreReadByTheCppSdk) {
  ASSERT_NO_FATAL_FAILURE(StartPoints());
  const std::string log = stack_.dir() + "/conformance.log";
  auto kit = launch::Process::Start(
      launch::BinaryPath("settle-conformance"),
      {"--participant=" + PointsEndpoint(), "--name=points",
       "--payload_hex=" + absl::BytesToHexString(R"({"account": "kit", "points": 1})")},
      log);
  ASSERT_TRUE(kit.ok());
  std::optional<int> status = (*kit)->Wait(absl::Seconds(120));
  std::printf("%s", launch::ReadFile(log).c_str());
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_EQ(Sql("points", "SELECT count(*) FROM settle_barrier WHERE state = 'prepared'"), "0");
  // The kit's hundreds of calls ran on the SDK's pool, not on a connection each.
  int sessions = 0;
  EXPECT_TRUE(absl::SimpleAtoi(
      Sql("points", "SELECT sessions FROM pg_stat_database WHERE datname = 'points'"), &sessions));
  EXPECT_LE(sessions, 30);

  // One schema for every SDK: a C++ participant on the same database lists the rows this SDK
  // wrote, with their states.
  const std::string sdk_rows = Sql(
      "points", "SELECT count(*), count(*) FILTER (WHERE state = 'committed') FROM settle_barrier");
  ASSERT_TRUE(stack_.StartParticipant("balance", {"--store=" + server_->Dsn("points")}).ok());
  auto branches = stack_.Branches("balance");
  ASSERT_TRUE(branches.ok()) << branches.status();
  int committed = 0;
  for (const auto& b : *branches) committed += b.state() == v1::BARRIER_STATE_COMMITTED;
  EXPECT_EQ(absl::StrCat(branches->size(), "|", committed), sdk_rows);
  EXPECT_GT(committed, 0);
}

TEST_P(SdkExampleTest, StartUpRefusalsExitWithTheCppParticipantsCodes) {
  auto exit_code = [&](const std::string& dsn) {
    auto p = launch::Process::Start(
        "/usr/bin/env", ExampleArgs(GetParam(), "points", {"--dsn=" + dsn, "--listen=127.0.0.1:0"}),
        stack_.dir() + "/refused.log");
    std::optional<int> status = p.ok() ? (*p)->Wait(absl::Seconds(60)) : std::nullopt;
    return status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  EXPECT_EQ(exit_code("host=127.0.0.1 port"), 2);  // Does not parse.
  EXPECT_EQ(exit_code(server_->DsnWithPassword("bank", "wrong")), 2)
      << launch::ReadFile(stack_.dir() + "/refused.log");
  EXPECT_EQ(exit_code("postgresql://postgres@127.0.0.1:1/points"), 1);
  ASSERT_EQ(Sql("bank", "CREATE TABLE settle_barrier (id int)"), "");
  EXPECT_EQ(exit_code(server_->Dsn("bank")), 3);
  EXPECT_EQ(Sql("bank", "SELECT to_regclass('settle_kv') IS NULL"), "t");  // Nothing created.
}

TEST_P(SdkExampleTest, PaymentsWithTheCppBalanceLandEverywhereOrNowhere) {
  ASSERT_NO_FATAL_FAILURE(StartMixedStack());
  // Two-phase: money and points move together.
  auto [code, out] = Pay("order-1", 500, 40);
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(AliceSettlesAt("9500 0", "960|0")) << AliceMoney() << " " << AlicePoints();
  // The same key again: the first outcome, nothing moves twice.
  auto [again, replayed] = Pay("order-1", 500, 40);
  EXPECT_EQ(again, 0) << replayed;
  EXPECT_NE(replayed.find("\"replayed\": true"), std::string::npos) << replayed;
  EXPECT_EQ(AlicePoints(), "960|0");
  // Points refuse: the money is not taken either.
  auto [refused, why] = Pay("order-2", 500, 5000);
  EXPECT_EQ(refused, 1) << why;
  EXPECT_NE(why.find("\"refused_participant\": \"points\""), std::string::npos) << why;
  EXPECT_NE(why.find("insufficient points in alice"), std::string::npos) << why;
  EXPECT_TRUE(AliceSettlesAt("9500 0", "960|0")) << AliceMoney() << " " << AlicePoints();
  // A saga: both act; then one whose points refuse, and the money is given back.
  auto [saga, saga_out] = Pay("order-3", 100, 10, "saga");
  EXPECT_EQ(saga, 0) << saga_out;
  EXPECT_TRUE(AliceSettlesAt("9400 0", "950|0")) << AliceMoney() << " " << AlicePoints();
  auto [undone, undone_out] = Pay("order-4", 100, 5000, "saga");
  EXPECT_EQ(undone, 1) << undone_out;
  EXPECT_TRUE(AliceSettlesAt("9400 0", "950|0")) << AliceMoney() << " " << AlicePoints();
  // Bad input: the coordinator's status, named, through the client's error.
  auto [bad, bad_out] = Pay(std::string(300, 'k'), 1, 1);
  EXPECT_EQ(bad, 2) << bad_out;
  EXPECT_NE(bad_out.find("\"error\": \"INVALID_ARGUMENT\""), std::string::npos) << bad_out;
  EXPECT_NE(bad_out.find("idempotency_key"), std::string::npos) << bad_out;
}

TEST_P(SdkExampleTest, AnInDoubtBranchLearnsTheDecisionFromTheCoordinator) {
  ASSERT_NO_FATAL_FAILURE(StartMixedStack());
  // A branch prepared for a transaction of the coordinator's shard that it never logged (as if
  // the coordinator crashed before its decision): presumed abort releases the hold.
  auto stub = v1::Participant::NewStub(
      grpc::CreateChannel(PointsEndpoint(), grpc::InsecureChannelCredentials()));
  v1::PrepareRequest prepare;
  prepare.set_txn_id("s0-00000000000fffff");
  prepare.set_payload(R"({"account": "alice", "points": -30})");
  ToProtoTime(absl::Now() + absl::Minutes(5), prepare.mutable_deadline());
  v1::PrepareResponse vote;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Prepare(&context, prepare, &vote).ok());
  ASSERT_EQ(vote.vote(), v1::VOTE_YES);
  EXPECT_EQ(AlicePoints(), "970|30");
  EXPECT_TRUE(launch::WaitFor([&] { return AlicePoints() == "1000|0"; })) << AlicePoints();
  EXPECT_EQ(Sql("points", "SELECT state FROM settle_barrier WHERE txn_id = 's0-00000000000fffff'"),
            "aborted");
  EXPECT_EQ(Sql("points", "SELECT count(*) FROM settle_kv WHERE space = 2"), "0");
}

TEST_P(SdkExampleTest, MutualTlsOnEveryLinkIncludingTheSdks) {
  auto pki = launch::TestPki::Create(stack_.dir(), "ca");
  ASSERT_TRUE(pki.ok()) << pki.status();
  auto cert = pki->Issue("settle", "IP:127.0.0.1");
  ASSERT_TRUE(cert.ok()) << cert.status();
  // Every process serves mutual TLS with one certificate and calls the others with it.
  example_tls_ = {"--tls_cert=" + cert->cert, "--tls_key=" + cert->key,
                  "--tls_ca=" + pki->ca_file(), "--tls_client_auth"};
  TlsOptions client;
  client.ca_file = pki->ca_file();
  client.cert_file = cert->cert;
  client.key_file = cert->key;
  stack_.EnableTls(client, example_tls_);
  ASSERT_NO_FATAL_FAILURE(StartMixedStack());

  // The SDK's caller over mutual TLS, and the coordinator's calls to the SDK's participant.
  auto [code, out] = Pay("tls-1", 500, 40, "two_phase",
                         {"--tls_ca=" + pki->ca_file(), "--tls_cert=" + cert->cert,
                          "--tls_key=" + cert->key});
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(launch::WaitFor([&] { return AlicePoints() == "960|0"; })) << AlicePoints();
  // Without a client certificate the caller is refused, naming UNAVAILABLE (the handshake).
  auto [refused, why] = Pay("tls-2", 500, 40, "two_phase", {"--tls_ca=" + pki->ca_file()});
  EXPECT_EQ(refused, 2) << why;
  EXPECT_EQ(AlicePoints(), "960|0");

  // The participant refuses plaintext and a client without a certificate.
  TlsOptions no_cert;
  no_cert.ca_file = pki->ca_file();
  for (const auto& creds : {grpc::InsecureChannelCredentials(), ChannelCredentials(no_cert)}) {
    auto stub = v1::Participant::NewStub(grpc::CreateChannel(PointsEndpoint(), creds));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::BranchStateRequest request;
    request.set_txn_id("s0-0000000000000001");
    v1::BranchStateResponse response;
    EXPECT_FALSE(stub->GetBranchState(&context, request, &response).ok());
  }
  // Its in-doubt resolver asks the coordinator over mutual TLS: a branch prepared for a
  // transaction the coordinator never logged is released.
  auto stub = v1::Participant::NewStub(
      grpc::CreateChannel(PointsEndpoint(), ChannelCredentials(client)));
  v1::PrepareRequest prepare;
  prepare.set_txn_id("s0-00000000000fffff");
  prepare.set_payload(R"({"account": "alice", "points": -30})");
  ToProtoTime(absl::Now() + absl::Minutes(5), prepare.mutable_deadline());
  v1::PrepareResponse vote;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Prepare(&context, prepare, &vote).ok());
  EXPECT_EQ(AlicePoints(), "930|30");
  EXPECT_TRUE(launch::WaitFor([&] { return AlicePoints() == "960|0"; })) << AlicePoints();

  // The contract kit over mutual TLS.
  auto kit = launch::Process::Start(
      launch::BinaryPath("settle-conformance"),
      {"--participant=" + PointsEndpoint(), "--name=points",
       "--payload_hex=" + absl::BytesToHexString(R"({"account": "kit", "points": 1})"),
       "--tls_ca=" + pki->ca_file(), "--tls_cert=" + cert->cert, "--tls_key=" + cert->key},
      stack_.dir() + "/conformance.log");
  ASSERT_TRUE(kit.ok());
  std::optional<int> status = (*kit)->Wait(absl::Seconds(120));
  EXPECT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << launch::ReadFile(stack_.dir() + "/conformance.log");
}

TEST_P(SdkExampleTest, ParticipantAndCoordinatorKilledUnderLoadLoseNoPayment) {
  ASSERT_NO_FATAL_FAILURE(StartMixedStack());
  PayUnderKills({"points"}, {v1::MODE_TWO_PHASE},
                {[&] { KillAndRestartExample("points", GetParam()); },
                 [&] { KillAndRestartCoordinator(); }});
}

INSTANTIATE_TEST_SUITE_P(Languages, SdkExampleTest, ::testing::Values("python", "node"),
                         [](const auto& info) { return info.param; });

// The mixed stack: the C++ balance on PostgreSQL, a Python participant and a TypeScript one in
// every payment, two-phase, saga and three-phase by turn, while each process is killed -9 in
// turn and restarted: every payment lands at all three or at none.
TEST_F(SdkStackTest, MixedStackKeepsEveryPaymentWholeThroughKillsOfEachProcess) {
  SkipWithoutNodeSdk();
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(StartStack({{"points", "python"}, {"points_node", "node"}}));
  PayUnderKills({"points", "points_node"},
                {v1::MODE_TWO_PHASE, v1::MODE_SAGA, v1::MODE_THREE_PHASE},
                {[&] { KillAndRestartExample("points", "python"); },
                 [&] { KillAndRestartExample("points_node", "node"); },
                 [&] { KillAndRestartBalance(); },
                 [&] { KillAndRestartCoordinator(); }});
}

}  // namespace
}  // namespace settle
