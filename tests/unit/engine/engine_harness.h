#ifndef SETTLE_TESTS_UNIT_ENGINE_ENGINE_HARNESS_H_
#define SETTLE_TESTS_UNIT_ENGINE_ENGINE_HARNESS_H_

// The coordinator on fakes only: an in-memory log whose writes the test completes, a manual clock
// and scheduler, scripted participants that answer inline. No thread, no sleep, no RocksDB: a test
// decides the order of every event and where a crash falls, and its "eventually" drains the log
// and the timers and moves the manual clock to the next timer, within a bound of manual time.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/coordinator.h"
#include "tests/testing/manual_time.h"
#include "tests/testing/memory_log.h"
#include "tests/testing/scripted_participant.h"

namespace settle::engine {

using testing::ScriptedParticipant;

class EngineHarness {
 public:
  EngineHarness() : scheduler_(clock_) {
    options_.retry.initial = absl::Milliseconds(1);
    options_.retry.max = absl::Milliseconds(20);
    options_.max_txn_timeout = absl::Minutes(1);
  }

  // Starts a coordinator (a new process) on the log.
  void Start() {
    if (registry_ == nullptr) registry_ = std::make_unique<Registry>(log_, factory_, breaker_);
    coordinator_ = std::make_unique<Coordinator>(options_, log_, *registry_, scheduler_, clock_,
                                                 metrics_, previous_owners_);
    ASSERT_TRUE(coordinator_->Recover().ok());
  }

  // The process dies: queued writes are lost (with `power_cut`, unsynced ones too), and its
  // timers. The coordinator stays allocated for callbacks that may still name it; Start()
  // begins the next process.
  void Crash(bool power_cut = false) {
    coordinator_->Stop();
    log_.Crash(power_cut);
    scheduler_.Clear();
    stopped_.push_back(std::move(coordinator_));
    stopped_registries_.push_back(std::move(registry_));
  }
  void Restart() {
    Crash();
    Start();
  }

  // Completes queued writes and runs due timers until neither is left.
  void Drain() {
    while (log_.CompleteOne() || scheduler_.RunDue() > 0) {
    }
  }
  // Drains and moves the manual clock timer by timer until `done` holds; false if it still does
  // not after `limit` of manual time.
  template <typename Pred>
  bool Eventually(Pred done, absl::Duration limit = absl::Seconds(30)) {
    const absl::Time end = clock_.Now() + limit;
    for (;;) {
      Drain();
      if (done()) return true;
      if (clock_.Now() >= end || !scheduler_.AdvanceToNext(end - clock_.Now())) return false;
    }
  }

  // Registers `name` (a registry is made if none is) and returns its scripted participant.
  std::shared_ptr<ScriptedParticipant> Participant(const std::string& name) {
    if (registry_ == nullptr) registry_ = std::make_unique<Registry>(log_, factory_, breaker_);
    if (registry_->Contains(name)) return factory_.At(name + ":1");
    std::optional<absl::Status> done;
    registry_->Register(name, name + ":1", clock_.Now(),
                        [&done](absl::StatusOr<ParticipantEntry> e) { done = e.status(); });
    Drain();
    EXPECT_TRUE(done.has_value() && done->ok());
    return factory_.At(name + ":1");
  }

  ExecuteParams Payment(const std::string& key, std::vector<std::string> participants = {
                                                     "balance", "ledger", "notification"}) {
    ExecuteParams p;
    p.idempotency_key = key;
    for (const auto& name : participants) p.branches.push_back({name, "payload-" + name});
    p.timeout = absl::Seconds(5);
    return p;
  }

  // Starts Execute; the answer lands in the slot when the coordinator gives it.
  using Slot = std::shared_ptr<std::optional<absl::StatusOr<ExecuteResult>>>;
  Slot Begin(ExecuteParams p) {
    auto slot = std::make_shared<std::optional<absl::StatusOr<ExecuteResult>>>();
    coordinator_->Execute(std::move(p), [slot](absl::StatusOr<ExecuteResult> r) {
      *slot = std::move(r);
    });
    return slot;
  }
  // Execute, driven until it answers.
  absl::StatusOr<ExecuteResult> Execute(ExecuteParams p) {
    Slot slot = Begin(std::move(p));
    if (!Eventually([&] { return slot->has_value(); })) {
      return absl::DeadlineExceededError("Execute did not answer within 30s of manual time");
    }
    return **slot;
  }

  bool Finished(const std::string& txn_id) {
    auto snap = coordinator_->GetTransaction(txn_id);
    return snap.ok() && (snap->record.state() == storage::TXN_COMMITTED ||
                         snap->record.state() == storage::TXN_ABORTED);
  }

  // Drains until the coordinator holds no transaction; false if it still does after `limit`.
  bool Settle(absl::Duration limit = absl::Minutes(5)) {
    return Eventually([&] { return coordinator_->ActiveCount() == 0; }, limit);
  }

  CoordinatorOptions options_;
  Metrics* metrics_ = nullptr;  // Set before Start() to count.
  PreviousOwners* previous_owners_ = nullptr;  // Set before Start() with previous_shard_count.
  // Probes at the retry pace, so that a participant back up is found at once.
  CircuitBreakerOptions breaker_{5, absl::Milliseconds(1), absl::Milliseconds(20)};
  testing::ManualClock clock_;
  testing::ManualScheduler scheduler_;
  testing::MemoryLog log_;
  testing::ScriptedChannelFactory factory_;
  std::unique_ptr<Registry> registry_;
  std::vector<std::unique_ptr<Coordinator>> stopped_;
  std::vector<std::unique_ptr<Registry>> stopped_registries_;
  std::unique_ptr<Coordinator> coordinator_;
};

}  // namespace settle::engine

#endif  // SETTLE_TESTS_UNIT_ENGINE_ENGINE_HARNESS_H_
