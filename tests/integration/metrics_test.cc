// Metrics as an operator sees them: a real Prometheus scrapes the coordinator and participants;
// the dashboard and the alert rules query only metrics that exist.

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "launch/http_get.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

using launch::WaitFor;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class MetricsTest : public ::testing::Test {
 protected:
  // Runs what makes every metric family appear: commits, NO-vote aborts, an abort whose
  // delivery is retried (a participant that is registered but down), and an in-doubt branch
  // that asks the coordinator.
  void SetUp() override {
    ASSERT_TRUE(stack_.StartCoordinator().ok());
    for (const char* kind : {"balance", "ledger", "notification"}) {
      ASSERT_TRUE(stack_
                      .StartParticipant(kind, {"--in_doubt_after=200ms",
                                               "--in_doubt_check_interval=100ms"})
                      .ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 1000).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
    for (int i = 0; i < kCommitted + kRefused; ++i) {
      v1::ExecuteRequest req = client::MakeTransfer(absl::StrCat("m-", i), "alice", "bob",
                                                    i < kCommitted ? 10 : 1000000);
      req.set_wait_for_acks(true);
      ASSERT_TRUE(stack_.client().Execute(req).ok());
    }
    ASSERT_TRUE(stack_.client().RegisterParticipant("ghost", launch::LocalStack::DeadEndpoint()).ok());
    v1::ExecuteRequest ghost = client::MakeTransfer("m-ghost", "alice", "bob", 1);
    ghost.mutable_branches(1)->set_participant("ghost");
    auto r = stack_.client().Execute(ghost);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->outcome(), v1::OUTCOME_ABORTED);
    {
      v1::PrepareRequest prep;
      prep.set_txn_id("s0-00000000000000ff");
      prep.set_payload(client::MakeTransfer("x", "alice", "bob", 1).branches(0).payload());
      prep.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Minutes(1)));
      v1::PrepareResponse resp;
      grpc::ClientContext ctx;
      ASSERT_TRUE(stack_.ParticipantStub("balance")->Prepare(&ctx, prep, &resp).ok());
    }
    ASSERT_TRUE(WaitFor([&] {
      const std::string c = Scrape(stack_.coordinator_metrics_endpoint());
      const std::string b = Scrape(stack_.participant_metrics_endpoint("balance"));
      // The ghost's failures show in the health gauge, refreshed every second.
      return launch::MetricSum(c, "settle_decision_retries_total") > 0 &&
             launch::MetricSum(c, "settle_participant_consecutive_failures") > 0 &&
             launch::MetricSum(b, "settle_participant_decision_queries_total") > 0;
    }));
  }

  static std::string Scrape(const std::string& endpoint) {
    return launch::HttpGet(endpoint, "/metrics");
  }

  std::vector<std::string> Targets() {
    std::vector<std::string> t = {stack_.coordinator_metrics_endpoint()};
    for (const char* kind : {"balance", "ledger", "notification"}) {
      t.push_back(stack_.participant_metrics_endpoint(kind));
    }
    return t;
  }

  static constexpr int kCommitted = 4;
  static constexpr int kRefused = 2;
  launch::LocalStack stack_;
};

// Before any payment: every series that takes no participant label is there at zero, so that
// rate() and the abort ratio read 0 instead of nothing on a fresh coordinator.
TEST(MetricsBeforeAnyEventTest, EveryUnlabelledOrBoundedSeriesExistsAtZero) {
  launch::LocalStack fresh;
  ASSERT_TRUE(fresh.StartCoordinator().ok());
  ASSERT_TRUE(fresh.StartParticipant("balance").ok());
  ASSERT_TRUE(fresh.RegisterAll().ok());
  std::string text;
  ASSERT_TRUE(WaitFor([&] {  // The gauges are first set a second after start-up.
    text = launch::HttpGet(fresh.coordinator_metrics_endpoint(), "/metrics");
    return text.find("\nsettle_transactions_in_flight ") != std::string::npos &&
           text.find("\nsettle_participant_consecutive_failures") != std::string::npos;
  }));
  // Documented, and absent until their first event (an outside check found them missing).
  EXPECT_NE(
      text.find("\nsettle_decision_retries_total{method=\"Commit\",participant=\"balance\"} 0"),
      std::string::npos);
  const std::string balance =
      launch::HttpGet(fresh.participant_metrics_endpoint("balance"), "/metrics");
  EXPECT_NE(balance.find("\nsettle_participant_decision_queries_total{answer=\"commit\"} 0"),
            std::string::npos);
  for (const char* series :
       {"settle_transactions_total{mode=\"two_phase\",outcome=\"committed\"} 0",
        "settle_transactions_total{mode=\"two_phase\",outcome=\"aborted\"} 0",
        "settle_execute_duration_seconds_count{result=\"aborted\"} 0",
        "settle_phase_duration_seconds_count{phase=\"prepare\"} 0",
        "settle_phase_duration_seconds_count{phase=\"abort\"} 0",
        "settle_recovered_transactions_total{state=\"committing\"} 0",
        "settle_retention_removed_total 0", "settle_transactions_in_doubt 0",
        "settle_transactions_stuck 0", "settle_log_write_duration_seconds_count{synced=\"false\"}",
        "settle_log_sync_group_size_count"}) {
    EXPECT_NE(text.find(std::string("\n") + series), std::string::npos) << series;
  }
}

TEST_F(MetricsTest, DashboardAndAlertsQueryOnlyMetricsThatExist) {
  // settle-notifier exposes its series from the start, broker or not (it keeps reconnecting).
  std::ofstream(stack_.dir() + "/webhook.key") << "key\n";
  const std::string dead = launch::LocalStack::DeadEndpoint();
  ASSERT_TRUE(stack_
                  .StartNotifier({"--amqp_host=127.0.0.1",
                                  "--amqp_port=" + dead.substr(dead.find(':') + 1),
                                  "--webhook_url=http://" + dead + "/hook",
                                  "--webhook_key_file=" + stack_.dir() + "/webhook.key"})
                  .ok());
  std::vector<std::string> targets = Targets();
  targets.push_back(stack_.notifier_metrics_endpoint());
  std::set<std::string> exposed;
  for (const auto& target : targets) {
    std::istringstream in(Scrape(target));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("# TYPE ", 0) == 0) exposed.insert(line.substr(7, line.find(' ', 7) - 7));
    }
  }
  const std::regex metric("settle_[a-z_]+");
  for (const char* file : {"/deploy/grafana/dashboards/settle.json",
                           "/deploy/prometheus/alerts.yml"}) {
    SCOPED_TRACE(file);
    const std::string text = ReadFile(std::string(SETTLE_SOURCE_DIR) + file);
    ASSERT_FALSE(text.empty());
    int found = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), metric), end; it != end; ++it) {
      std::string name = it->str();
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s(suffix);
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
            !exposed.count(name)) {
          name.resize(name.size() - s.size());
        }
      }
      EXPECT_TRUE(exposed.count(name)) << name << " is queried but no target exposes it";
      ++found;
    }
    EXPECT_GT(found, 3);
  }
}

TEST_F(MetricsTest, RealPrometheusScrapesWhatWasRun) {
  const char* binary = "/usr/bin/prometheus";
  if (!std::filesystem::exists(binary)) {
    GTEST_SKIP() << "SKIPPED LOUDLY: " << binary << " is not installed (apt-get install "
                 << "prometheus); the scrape test did not run";
  }
  const int port = launch::FreePort();
  const std::string config = stack_.dir() + "/prometheus.yml";
  std::ofstream(config) << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                        << "rule_files: [\"" << SETTLE_SOURCE_DIR
                        << "/deploy/prometheus/alerts.yml\"]\n"
                        << "scrape_configs:\n"
                        << "  - job_name: settle-coordinator\n"
                        << "    static_configs: [{targets: [\""
                        << stack_.coordinator_metrics_endpoint() << "\"]}]\n"
                        << "  - job_name: settle-participants\n"
                        << "    static_configs: [{targets: [\""
                        << stack_.participant_metrics_endpoint("balance") << "\", \""
                        << stack_.participant_metrics_endpoint("ledger") << "\", \""
                        << stack_.participant_metrics_endpoint("notification") << "\"]}]\n";
  auto prometheus = launch::Process::Start(
      binary,
      {"--config.file=" + config, "--storage.tsdb.path=" + stack_.dir() + "/tsdb",
       absl::StrCat("--web.listen-address=127.0.0.1:", port)},
      stack_.dir() + "/prometheus.log");
  ASSERT_TRUE(prometheus.ok());
  const std::string api = absl::StrCat("127.0.0.1:", port);

  // The value of a scalar-valued PromQL query, or NaN when it has no result yet.
  auto query = [&](const std::string& promql) {
    std::string escaped;
    for (char c : promql) {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') {
        escaped.push_back(c);
      } else {
        absl::StrAppend(&escaped, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
      }
    }
    google::protobuf::Struct resp;
    const std::string body = launch::HttpGet(api, "/api/v1/query?query=" + escaped);
    if (!google::protobuf::util::JsonStringToMessage(body, &resp).ok()) return std::nan("");
    const auto& result =
        resp.fields().at("data").struct_value().fields().at("result").list_value();
    if (result.values_size() != 1) return std::nan("");
    const auto& value = result.values(0).struct_value().fields().at("value").list_value();
    return std::stod(value.values(1).string_value());
  };

  // Every target scraped at least once since the payments ran.
  ASSERT_TRUE(WaitFor(
      [&] {
        return query("count(up == 1)") == 4 &&
               query("sum(settle_participant_branches_total{effect=\"committed\"})") ==
                   3 * kCommitted;
      },
      absl::Seconds(60)))
      << ReadFile(stack_.dir() + "/prometheus.log");
  EXPECT_EQ(query("sum(settle_transactions_total{outcome=\"committed\"})"), kCommitted);
  EXPECT_EQ(query("sum(settle_transactions_total{outcome=\"aborted\"})"), kRefused + 1);
  EXPECT_EQ(query("sum(settle_participant_branches_total{effect=\"refused\"})"), kRefused);
  const double median = query(
      "histogram_quantile(0.5, sum by (le) (settle_execute_duration_seconds_bucket))");
  EXPECT_GT(median, 0);
  EXPECT_LT(median, 5);
  ASSERT_TRUE(WaitFor([&] {
    return launch::HttpGet(api, "/api/v1/rules").find("SettleTransactionsStuck") !=
           std::string::npos;
  }));
}

}  // namespace
}  // namespace settle
