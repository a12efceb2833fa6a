#ifndef SETTLE_TESTS_UNIT_ENGINE_COORDINATOR_FIXTURE_H_
#define SETTLE_TESTS_UNIT_ENGINE_COORDINATOR_FIXTURE_H_

// The coordinator over a real log in a temp dir, scripted participants and a thread scheduler,
// shared by the engine's coordinator tests.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/coordinator.h"
#include "storage/txn_log.h"
#include "tests/testing/scripted_participant.h"
#include "tests/testing/wait.h"

namespace settle::engine {

using testing::ScriptedParticipant;
using testing::WaitFor;

// The real clock, which a test can step back or forward as NTP or a VM resume might.
class SteppableClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now() + offset_.load(); }
  void Step(absl::Duration by) { offset_.store(offset_.load() + by); }

 private:
  std::atomic<absl::Duration> offset_{absl::ZeroDuration()};
};

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.retry.initial = absl::Milliseconds(1);
    options_.retry.max = absl::Milliseconds(20);
    options_.max_txn_timeout = absl::Minutes(1);
    log_ = std::move(*storage::TxnLog::Open(dir_.path()));
    registry_ = std::make_unique<Registry>(*log_, factory_, breaker_);
    scheduler_ = std::make_unique<ThreadScheduler>();
  }

  void Start() {
    if (log_ == nullptr) {
      log_ = std::move(*storage::TxnLog::Open(dir_.path()));
      registry_ = std::make_unique<Registry>(*log_, factory_, breaker_);
    }
    coordinator_ = std::make_unique<Coordinator>(options_, *log_, *registry_, *scheduler_,
                                                 clock_, nullptr);
    ASSERT_TRUE(coordinator_->Recover().ok());
  }

  // Reopens the log so that its writes fail while the returned path exists.
  std::string OpenLogWithWriteFaults() {
    registry_.reset();
    log_.reset();
    storage::TxnLog::Options log_options;
    log_options.write_fault_trigger_ForTest = trigger_dir_.Sub("disk-full");
    log_ = std::move(*storage::TxnLog::Open(dir_.path(), log_options));
    registry_ = std::make_unique<Registry>(*log_, factory_, breaker_);
    return log_options.write_fault_trigger_ForTest;
  }

  // As if the process died: the coordinator stops (its pending callbacks must still find it
  // alive, so it is destroyed with the fixture) and the log closes after whatever was queued
  // on it; Start() opens it again, as a new process would.
  void Crash() {
    coordinator_->Stop();
    stopped_.push_back(std::move(coordinator_));
    registry_.reset();
    log_.reset();
  }
  void Restart() {
    Crash();
    Start();
  }

  void TearDown() override {
    if (coordinator_ != nullptr) coordinator_->Stop();
    scheduler_.reset();
    log_.reset();
  }

  std::shared_ptr<ScriptedParticipant> Participant(const std::string& name) {
    std::promise<absl::Status> done;
    registry_->Register(name, name + ":1", absl::Now(),
                        [&done](absl::StatusOr<ParticipantEntry> e) { done.set_value(e.status()); });
    EXPECT_TRUE(done.get_future().get().ok());
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

  absl::StatusOr<ExecuteResult> Execute(ExecuteParams p) {
    std::promise<absl::StatusOr<ExecuteResult>> result;
    coordinator_->Execute(std::move(p), [&result](absl::StatusOr<ExecuteResult> r) {
      result.set_value(std::move(r));
    });
    return result.get_future().get();
  }

  bool Finished(const std::string& txn_id) {
    auto snap = coordinator_->GetTransaction(txn_id);
    return snap.ok() && (snap->record.state() == storage::TXN_COMMITTED ||
                         snap->record.state() == storage::TXN_ABORTED);
  }

  testing::TempDir dir_;
  testing::TempDir trigger_dir_;
  CoordinatorOptions options_;
  // Probes at the fixture's retry pace, so that a participant back up is found in milliseconds.
  CircuitBreakerOptions breaker_{5, absl::Milliseconds(1), absl::Milliseconds(20)};
  std::unique_ptr<storage::TxnLog> log_;
  testing::ScriptedChannelFactory factory_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ThreadScheduler> scheduler_;
  SteppableClock clock_;
  std::vector<std::unique_ptr<Coordinator>> stopped_;
  std::unique_ptr<Coordinator> coordinator_;
};

}  // namespace settle::engine

#endif  // SETTLE_TESTS_UNIT_ENGINE_COORDINATOR_FIXTURE_H_
