// settle-bench runs a short step against a local stack and its JSON report parses. It times
// nothing: speed is for the bench to report, not for tests to assert.

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/process.h"
#include "tests/testing/wait.h"

namespace settle {
namespace {

TEST(BenchTest, ShortStepWithBaselineReportsParseableJson) {
  testing::TempDir dir;
  const std::string out = dir.Sub("report.json");
  auto p = testing::Process::Start(
      testing::BinaryPath("settle-bench"),
      {"--local", "--baseline", "--concurrency=2", "--duration=1s", "--warmup=0s",
       "--abort_ratio=0.25", "--json", "--progress=false"},
      out);
  ASSERT_TRUE(p.ok());
  auto status = (*p)->Wait(absl::Seconds(90));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);

  std::ifstream in(out);
  std::string last, line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') last = line;  // The report is the one JSON line.
  }
  google::protobuf::Struct report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(last, &report).ok()) << last;
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
}

}  // namespace
}  // namespace settle
