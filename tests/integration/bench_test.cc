// settle-bench runs a short step against a local stack and its JSON report parses. It times
// nothing: speed is for the bench to report, not for tests to assert.

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "launch/process.h"
#include "launch/wait.h"

namespace settle {
namespace {

// Runs settle-bench with `flags` and parses the one JSON line of its report.
void RunBench(const std::vector<std::string>& flags, google::protobuf::Struct* report) {
  launch::TempDir dir;
  const std::string out = dir.Sub("report.json");
  auto p = launch::Process::Start(launch::BinaryPath("settle-bench"), flags, out);
  ASSERT_TRUE(p.ok());
  auto status = (*p)->Wait(absl::Seconds(120));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);

  std::ifstream in(out);
  std::string last, line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') last = line;  // The report is the one JSON line.
  }
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(last, report).ok()) << last;
}

TEST(BenchTest, ShortStepWithBaselineReportsParseableJson) {
  google::protobuf::Struct report;
  // Bare seconds, as in the command the README gives: --duration 20.
  RunBench({"--local", "--baseline", "--concurrency=2", "--duration=1", "--warmup=0",
            "--rounds=3", "--abort_ratio=0.25", "--json", "--progress=false"},
           &report);
  if (HasFatalFailure()) return;
  const auto& steps = report.fields().at("steps").list_value();
  ASSERT_EQ(steps.values_size(), 1);
  const auto& step = steps.values(0).struct_value().fields();
  EXPECT_EQ(step.at("concurrency").number_value(), 2);
  for (const char* system : {"settle", "baseline"}) {
    SCOPED_TRACE(system);
    const auto& s = step.at(system).struct_value().fields();
    EXPECT_GT(s.at("count").number_value(), 0);
    const auto& results = s.at("results").struct_value().fields();
    EXPECT_GT(results.at("committed").number_value(), 0);
    EXPECT_GT(results.at("aborted").number_value(), 0);  // The abort ratio took effect.
    EXPECT_LE(s.at("p50_ms").number_value(), s.at("p99_ms").number_value());
  }
  EXPECT_GT(step.at("tps_ratio").number_value(), 0);
  EXPECT_GT(step.at("p99_ratio").number_value(), 0);
  // Every round is listed, lowest ratio first, and the one reported is the median.
  const auto& rounds = step.at("rounds").list_value();
  ASSERT_EQ(rounds.values_size(), 3);
  EXPECT_LE(rounds.values(0).struct_value().fields().at("tps_ratio").number_value(),
            rounds.values(2).struct_value().fields().at("tps_ratio").number_value());
  EXPECT_NEAR(rounds.values(1).struct_value().fields().at("tps_ratio").number_value(),
              step.at("tps_ratio").number_value(), 0.001);
}

// Sagas and three-phase commit have their bare form too: the same steps or rounds driven
// straight at the participants. Both commit and abort; nothing ends in an error.
TEST(BenchTest, SagaAndThreePhaseRunAgainstTheirOwnBaseline) {
  for (const char* mode : {"saga", "three_phase"}) {
    SCOPED_TRACE(mode);
    google::protobuf::Struct report;
    RunBench({"--local", "--baseline", absl::StrCat("--mode=", mode), "--concurrency=2",
              "--duration=1", "--warmup=0", "--abort_ratio=0.25", "--json", "--progress=false"},
             &report);
    if (HasFatalFailure()) return;
    const auto& step = report.fields().at("steps").list_value().values(0).struct_value().fields();
    for (const char* system : {"settle", "baseline"}) {
      SCOPED_TRACE(system);
      const auto& results =
          step.at(system).struct_value().fields().at("results").struct_value().fields();
      auto count = [&](const char* result) {
        return results.count(result) ? results.at(result).number_value() : 0;
      };
      EXPECT_GT(count("committed"), 0);
      EXPECT_GT(count("aborted"), 0);
      EXPECT_EQ(results.size(), 2u) << "a transaction ended in an error";
    }
  }
}

// The growth mode on a small scale: every phase runs and reports, retention removes exactly
// the seeded transactions that are past it, and recovery aborts every seeded undecided one.
TEST(BenchTest, GrowthModeReportsEveryPhase) {
  google::protobuf::Struct report;
  RunBench({"--local", "--growth", "--concurrency=4", "--duration=2s", "--warmup=1s",
            "--growth_mid=500", "--growth_finished=2000", "--growth_active=100",
            "--growth_queries=50", "--json", "--progress=false"},
           &report);
  if (HasFatalFailure()) return;
  const auto& r = report.fields();
  for (const char* step : {"empty", "at_mid", "at_full", "while_sweeping"}) {
    SCOPED_TRACE(step);
    const auto& s = r.at(step).struct_value().fields();
    EXPECT_GT(s.at("tps").number_value(), 0);
    EXPECT_EQ(s.at("errors").number_value(), 0);
  }
  EXPECT_EQ(r.at("swept").number_value(), 2000);
  EXPECT_GT(r.at("rss_mid_bytes").number_value(), 0);
  EXPECT_GT(r.at("rss_full_bytes").number_value(), 0);
  for (const char* q : {"get", "list_first", "list_seek", "list_filter"}) {
    SCOPED_TRACE(q);
    const auto& l = r.at(q).struct_value().fields();
    EXPECT_GT(l.at("p50_ms").number_value(), 0);
    EXPECT_LE(l.at("p50_ms").number_value(), l.at("p99_ms").number_value());
  }
  EXPECT_GT(r.at("recovery_serving_s").number_value(), 0);
  EXPECT_GE(r.at("recovery_resolved_s").number_value(), r.at("recovery_serving_s").number_value());
}

}  // namespace
}  // namespace settle
