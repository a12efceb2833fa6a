#include "server/engine/circuit_breaker.h"

#include "gtest/gtest.h"

namespace settle::engine {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);
const absl::Status kDown = absl::UnavailableError("connection refused");

CircuitBreaker Breaker() {
  return CircuitBreaker(
      {/*failure_threshold=*/3, absl::Milliseconds(100), absl::Milliseconds(400)});
}

TEST(CircuitBreakerTest, OpensOnlyAfterTheThresholdOfConsecutiveUnreachableAnswers) {
  CircuitBreaker b = Breaker();
  b.RecordFailure(kDown, kT0);
  b.RecordFailure(absl::DeadlineExceededError("slow"), kT0);
  EXPECT_FALSE(b.open());
  EXPECT_TRUE(b.Allow(kT0));
  b.RecordFailure(kDown, kT0);
  EXPECT_TRUE(b.open());
  EXPECT_FALSE(b.Allow(kT0));
}

TEST(CircuitBreakerTest, AnAnswerBetweenFailuresStartsTheCountAgain) {
  CircuitBreaker b = Breaker();
  b.RecordFailure(kDown, kT0);
  b.RecordFailure(kDown, kT0);
  b.RecordAnswer();
  b.RecordFailure(kDown, kT0);
  b.RecordFailure(kDown, kT0);
  EXPECT_FALSE(b.open());
}

// A refusal that is not about reachability (a participant's own error) proves it is up.
TEST(CircuitBreakerTest, AnErrorThatIsNotUnreachableCountsAsAnAnswer) {
  CircuitBreaker b = Breaker();
  for (int i = 0; i < 3; ++i) b.RecordFailure(kDown, kT0);
  ASSERT_TRUE(b.open());
  b.RecordFailure(absl::FailedPreconditionError("txn unknown"), kT0);
  EXPECT_FALSE(b.open());
  EXPECT_TRUE(b.Allow(kT0));
}

TEST(CircuitBreakerTest, LetsOneProbeThroughPerIntervalDoublingUpToTheCap) {
  CircuitBreaker b = Breaker();
  for (int i = 0; i < 3; ++i) b.RecordFailure(kDown, kT0);
  struct Step {
    absl::Duration at;
    bool allowed;
  };
  // Probes at +100 ms, then 200 ms later, then 400 ms later (the cap), then every 400 ms.
  const Step steps[] = {{absl::Milliseconds(99), false},  {absl::Milliseconds(100), true},
                        {absl::Milliseconds(101), false}, {absl::Milliseconds(299), false},
                        {absl::Milliseconds(300), true},  {absl::Milliseconds(699), false},
                        {absl::Milliseconds(700), true},  {absl::Milliseconds(1099), false},
                        {absl::Milliseconds(1100), true}, {absl::Milliseconds(1100), false}};
  for (const Step& s : steps) {
    SCOPED_TRACE(absl::FormatDuration(s.at));
    EXPECT_EQ(b.Allow(kT0 + s.at), s.allowed);
  }
  // Failed probes while open change nothing about the schedule.
  b.RecordFailure(kDown, kT0 + absl::Milliseconds(1200));
  EXPECT_FALSE(b.Allow(kT0 + absl::Milliseconds(1499)));
  EXPECT_TRUE(b.Allow(kT0 + absl::Milliseconds(1500)));
}

TEST(CircuitBreakerTest, AnsweredProbeClosesAndEveryCallGoesAgain) {
  CircuitBreaker b = Breaker();
  for (int i = 0; i < 3; ++i) b.RecordFailure(kDown, kT0);
  ASSERT_TRUE(b.Allow(kT0 + absl::Milliseconds(100)));
  b.RecordAnswer();
  EXPECT_FALSE(b.open());
  EXPECT_EQ(b.next_probe(), absl::InfinitePast());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.Allow(kT0 + absl::Milliseconds(100)));
  // Opening again starts the probe interval from the beginning.
  for (int i = 0; i < 3; ++i) b.RecordFailure(kDown, kT0 + absl::Seconds(1));
  EXPECT_EQ(b.next_probe(), kT0 + absl::Seconds(1) + absl::Milliseconds(100));
}

}  // namespace
}  // namespace settle::engine
