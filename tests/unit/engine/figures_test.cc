// The console's figures: Execute's totals sampled from the coordinator's own metrics, turned into
// intervals of the last minutes.

#include "server/engine/figures.h"

#include <limits>
#include <memory>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/unit/engine/coordinator_fixture.h"

namespace settle::engine {
namespace {

const std::vector<double> kBounds = {0.001, 0.01, 0.1, std::numeric_limits<double>::infinity()};

TEST(FiguresTest, QuantilesInterpolateWithinTheirBucketAsPrometheusDoes) {
  EXPECT_NEAR(HistogramQuantile(0.5, kBounds, {0, 10, 10, 10}), 0.001 + 0.009 * 0.5, 1e-12);
  EXPECT_NEAR(HistogramQuantile(0.99, kBounds, {0, 10, 10, 10}), 0.001 + 0.009 * 0.99, 1e-12);
  EXPECT_NEAR(HistogramQuantile(0.9, kBounds, {4, 4, 6, 6}), 0.01 + 0.09 * 0.7, 1e-12);
  EXPECT_NEAR(HistogramQuantile(0.25, kBounds, {4, 4, 6, 6}), 0.001 * 1.5 / 4, 1e-12);
  // Beyond the last finite bound: that bound, as histogram_quantile answers.
  EXPECT_NEAR(HistogramQuantile(0.9, kBounds, {0, 0, 0, 5}), 0.1, 1e-12);
  EXPECT_EQ(HistogramQuantile(0.5, kBounds, {0, 0, 0, 0}), 0);
  EXPECT_EQ(HistogramQuantile(0.5, {}, {}), 0);
}

ExecuteTotals Totals(uint64_t committed, uint64_t aborted, uint64_t failed,
                     std::vector<uint64_t> cumulative) {
  return {committed, aborted, failed, kBounds, std::move(cumulative)};
}

TEST(FiguresTest, IntervalsAreTheDifferencesBetweenSamplesOverTheSpanKept) {
  FigureHistory history(absl::Minutes(1));
  const absl::Time t0 = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_TRUE(history.Intervals().empty());
  history.Record(t0, Totals(100, 5, 1, {50, 100, 106, 106}));
  history.Record(t0 + absl::Seconds(10), Totals(110, 6, 1, {50, 110, 117, 117}));
  auto intervals = history.Intervals();
  ASSERT_EQ(intervals.size(), 1u);
  EXPECT_EQ(intervals[0].start, t0);
  EXPECT_EQ(intervals[0].end, t0 + absl::Seconds(10));
  EXPECT_EQ(intervals[0].committed, 10u);
  EXPECT_EQ(intervals[0].aborted, 1u);
  EXPECT_EQ(intervals[0].failed, 0u);
  // The interval's 11 calls: 10 between 1 and 10 ms, 1 between 10 and 100 ms.
  EXPECT_NEAR(intervals[0].p50_ms, 1 + 9 * 5.5 / 10, 1e-9);
  EXPECT_NEAR(intervals[0].p99_ms, 10 + 90 * 0.89, 1e-9);

  // Totals that went down (a restart): that interval counts nothing rather than garbage.
  history.Record(t0 + absl::Seconds(20), Totals(3, 0, 0, {0, 3, 3, 3}));
  intervals = history.Intervals();
  ASSERT_EQ(intervals.size(), 2u);
  EXPECT_EQ(intervals[1].committed, 0u);
  EXPECT_EQ(intervals[1].p50_ms, 0);

  // Only the last minute is kept.
  for (int i = 3; i < 20; ++i) {
    history.Record(t0 + absl::Seconds(10 * i), Totals(3, 0, 0, {0, 3, 3, 3}));
  }
  intervals = history.Intervals();
  ASSERT_EQ(intervals.size(), 6u);
  EXPECT_EQ(intervals.back().end, t0 + absl::Seconds(190));
  EXPECT_EQ(intervals.front().start, t0 + absl::Seconds(130));
}

TEST_F(CoordinatorTest, FiguresCountEachIntervalsPaymentsFromTheCoordinatorsMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  metrics_ = &metrics;
  Participant("balance");
  Participant("ledger");
  const absl::Time started = clock_.Now();  // The first sample is taken at the start.
  Start();
  for (const char* key : {"k1", "k2", "k3"}) {
    ASSERT_TRUE(Execute(Payment(key, {"balance", "ledger"}))->committed);
  }
  Participant("ledger")->SetVote(VoteResult{false, "no"});
  ASSERT_FALSE(Execute(Payment("k4", {"balance", "ledger"}))->committed);
  ASSERT_LT(clock_.Now(), started + absl::Seconds(10)) << "the next sample is not due yet";
  // Before the next sample: the interval still open holds them, up to now.
  clock_.Advance(absl::Seconds(1));
  Coordinator::Figures f = coordinator_->GetFigures();
  ASSERT_EQ(f.intervals.size(), 1u);
  EXPECT_EQ(f.intervals[0].start, started);
  EXPECT_EQ(f.intervals[0].end, clock_.Now());
  EXPECT_EQ(f.intervals[0].committed, 3u);
  EXPECT_EQ(f.intervals[0].aborted, 1u);
  EXPECT_EQ(f.intervals[0].failed, 0u);
  EXPECT_GT(f.intervals[0].p50_ms, 0);
  EXPECT_GE(f.intervals[0].p99_ms, f.intervals[0].p50_ms);
  // The timer's sample closes it 10 s after the start.
  ASSERT_TRUE(Eventually([&] { return clock_.Now() >= started + absl::Seconds(10); }));
  f = coordinator_->GetFigures();
  ASSERT_GE(f.intervals.size(), 1u);
  EXPECT_EQ(f.intervals[0].end, started + absl::Seconds(10));
  EXPECT_EQ(f.intervals[0].committed, 3u);
  EXPECT_EQ(f.intervals[0].aborted, 1u);
  EXPECT_EQ(f.now.in_flight, 0);
  EXPECT_EQ(f.now.needs_attention, 0);
}

}  // namespace
}  // namespace settle::engine
