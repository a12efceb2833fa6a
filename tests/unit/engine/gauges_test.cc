// The coordinator's gauges are set from the state at the moment they are read (before each
// scrape), not by a timer: no lag, and nothing to wait for.

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/unit/engine/coordinator_fixture.h"

namespace settle::engine {
namespace {

double Gauge(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) return family.metric[0].gauge.value;
  }
  ADD_FAILURE() << name << " is not exported";
  return -1;
}

TEST_F(CoordinatorTest, GaugesAreExactWhenReadWithoutWaitingForATimer) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  metrics_ = &metrics;
  Participant("balance");
  Participant("ledger")->FailCommits(-1, absl::UnavailableError("down"));
  Start();
  auto r = Execute(Payment("k1", {"balance", "ledger"}));
  ASSERT_TRUE(r.ok() && r->committed);
  // The manual clock has not moved: no timer could have set them.
  coordinator_->RefreshGauges();
  EXPECT_EQ(Gauge(*registry, "settle_transactions_in_flight"), 1);
  EXPECT_EQ(Gauge(*registry, "settle_transactions_in_doubt"), 1);
  EXPECT_EQ(Gauge(*registry, "settle_transactions_needing_attention"), 0);

  Participant("ledger")->FailCommits(0, absl::OkStatus());
  ASSERT_TRUE(Eventually([&] { return coordinator_->ActiveCount() == 0; }));
  coordinator_->RefreshGauges();
  EXPECT_EQ(Gauge(*registry, "settle_transactions_in_flight"), 0);
  EXPECT_EQ(Gauge(*registry, "settle_transactions_in_doubt"), 0);
}

}  // namespace
}  // namespace settle::engine
