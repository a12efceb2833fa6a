// Power cuts, not just kill -9: every process of the stack stops at once and every data dir is
// rolled back to what reached stable storage (storage/power_cut_fs.h), unsynced tails dropped or
// torn at a random byte. Then everything starts again on what is left and the bank check proves
// the same invariants as after kill -9.

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fault/fault_test.h"

namespace settle::fault {
namespace {

using launch::WaitFor;

class PowerCutTest : public FaultTest {
 protected:
  void SetUp() override {
    stack_.EnablePowerCuts();
    StartBankStack(stack_, bank_);
  }

  void TearDown() override {
    std::printf(
        "%d power cuts: %d unsynced files removed, %d tails dropped, %d torn, %d renames "
        "undone, %llu bytes lost\n",
        faults_, lost_.files_removed, lost_.tails_dropped, lost_.tails_torn, lost_.renames_undone,
        static_cast<unsigned long long>(lost_.bytes_lost));
  }

  // Cuts the power of the whole stack.
  void Cut() {
    auto report = stack_.PowerCut(rng_);
    ASSERT_TRUE(report.ok()) << report.status();
    lost_ += *report;
    ++faults_;
  }

  // Starts everything again on what the cut left; `extra` flags for each process by name.
  // `may_die` (a crash point is armed there) may fail to start: returns whether it did.
  bool StartAll(const std::map<std::string, std::vector<std::string>>& extra = {},
                const std::string& may_die = "") {
    bool died = false;
    auto ok = [&](const std::string& name, const absl::Status& s) {
      if (name == may_die && !s.ok()) died = true;
      return name == may_die || s.ok();
    };
    auto flags = [&extra](const std::string& name, std::vector<std::string> base) {
      if (auto it = extra.find(name); it != extra.end()) {
        base.insert(base.end(), it->second.begin(), it->second.end());
      }
      return base;
    };
    // The participants first: a payment retried the moment the coordinator is back finds them.
    for (const std::string& name : stack_.ParticipantNames()) {
      const absl::Status s = stack_.StartParticipant(name, flags(name, ParticipantFlags()));
      EXPECT_TRUE(ok(name, s)) << s;
    }
    const absl::Status s = stack_.StartCoordinator(flags("coordinator", {}));
    EXPECT_TRUE(ok("coordinator", s)) << s;
    return died;
  }

  launch::Process& ProcessNamed(const std::string& name) {
    return name == "coordinator" ? stack_.coordinator() : stack_.participant(name);
  }

  void HealAndCheck() { FaultTest::HealAndCheck(bank_, absl::Seconds(90)); }

  // A last cut with nothing armed, everything started again, then the bank check.
  void CutOnceMoreHealAndCheck() {
    Cut();
    ASSERT_FALSE(HasFatalFailure());
    StartAll();
    ASSERT_FALSE(HasFailure());
    PauseRandomly(300, 500);
    HealAndCheck();
  }

  launch::LocalStack stack_;
  Bank bank_{stack_, MixedModes()};
  storage::PowerCutReport lost_;
};

TEST_F(PowerCutTest, PowerCutsAtRandomInstantsUnderLoad) {
  bank_.Start();
  for (int i = 0; i < 20; ++i) {
    PauseRandomly(100, 600);
    Cut();
    ASSERT_FALSE(HasFatalFailure());
    StartAll();
    ASSERT_FALSE(HasFailure()) << "after " << faults_ << " power cuts";
  }
  PauseRandomly(300, 500);
  EXPECT_GT(bank_.payments(), 20);
  HealAndCheck();
}

// A crash point on every sync of one payment, in each process it touches, just before the
// sync reached the disk and just after: whatever the protocol forced, it must have been enough.
// Each mode has its own test; the syncs of one payment are counted from the moment it starts.
class PowerCutCrashPointTest : public PowerCutTest,
                               public ::testing::WithParamInterface<const char*> {
 protected:
  static BankOptions OptionsFor(const std::string& mode) {
    BankOptions options;
    options.key_prefix = mode;
    options.card_share = mode == "saga" ? 1 : 0;
    options.three_phase_share = mode == "three_phase" ? 1 : 0;
    return options;
  }

  // Arms `who`'s n-th sync, runs one payment, and cuts the power when `who` dies there. False
  // when the payment ended without reaching that sync.
  bool PayThroughCrashPoint(Bank& bank, const std::string& who, int n, bool after) {
    EXPECT_TRUE(stack_.ArmPowerCut(who, n, after).ok());
    std::atomic<bool> paid{false};
    std::thread payment([&] {
      bank.PayOne();
      paid = true;
    });
    bool died = false;
    WaitFor(
        [&] {
          died = ProcessNamed(who).Wait(absl::ZeroDuration()).has_value();
          return died || paid;
        },
        absl::Seconds(60));
    // The caller hears the outcome before every participant has it: the syncs that record it
    // there come after.
    WaitFor(
        [&] {
          died = died || ProcessNamed(who).Wait(absl::ZeroDuration()).has_value();
          auto active = stack_.ActiveTransactions();
          return died || (active.ok() && active->empty());
        },
        absl::Seconds(30));
    // Cut either way: a point not reached is disarmed by the restart.
    Cut();
    StartAll();
    payment.join();
    return died;
  }
};

TEST_P(PowerCutCrashPointTest, PowerCutBeforeAndAfterEverySyncOfOnePayment) {
  Bank bank(stack_, OptionsFor(GetParam()));
  std::vector<std::string> touched = {"coordinator", "balance", "notification"};
  touched.push_back(std::string(GetParam()) == "saga" ? "gateway" : "ledger");
  int points = 0;
  for (const std::string& who : touched) {
    for (const bool after : {false, true}) {
      int n = 1;
      while (n <= 12 && PayThroughCrashPoint(bank, who, n, after)) {
        ASSERT_FALSE(HasFailure()) << who << " sync " << n << (after ? " after" : " before");
        ++n;
      }
      ASSERT_FALSE(HasFatalFailure());
      std::printf("%s: %d syncs cut %s\n", who.c_str(), n - 1, after ? "after" : "before");
      EXPECT_GT(n, 1) << who << " synced nothing for a payment it is part of";
      points += n - 1;
    }
  }
  std::printf("%d crash points\n", points);
  FaultTest::HealAndCheck(bank, absl::Seconds(60));
}

INSTANTIATE_TEST_SUITE_P(Modes, PowerCutCrashPointTest,
                         ::testing::Values("two_phase", "three_phase", "saga"));

// The power goes again while the stack recovers from the last cut: at each sync of the
// coordinator's and of a participant's start, before and after it (RocksDB's WAL replay, its
// new MANIFEST and CURRENT, the records of the recovery), and at the first syncs under load.
TEST_F(PowerCutTest, PowerCutAtEverySyncOfRecovery) {
  bank_.Start();
  int during_start = 0, points = 0;
  for (const std::string who : {"coordinator", "balance"}) {
    for (int n = 1; n <= 10; ++n) {
      for (const bool after : {false, true}) {
        Cut();
        ASSERT_FALSE(HasFatalFailure());
        ASSERT_TRUE(stack_.ArmPowerCut(who, n, after).ok());
        during_start += StartAll({}, who);
        ASSERT_FALSE(HasFailure()) << "after " << faults_ << " power cuts";
        ++points;
        PauseRandomly(100, 300);
      }
    }
  }
  std::printf("%d crash points, %d inside a start\n", points, during_start);
  EXPECT_GT(during_start, 8);
  CutOnceMoreHealAndCheck();
}

// A full disk, then, as the store reopens itself on the disk that works again, the power goes.
TEST_F(PowerCutTest, PowerCutWhileAStoreReopensAfterAFullDisk) {
  const std::string trigger = stack_.dir() + "/disk-full";
  const std::vector<std::string> fault = {"--test_write_fault_trigger=" + trigger};
  bank_.Start();
  for (const std::string who : {"coordinator", "balance", "coordinator", "ledger"}) {
    Cut();
    ASSERT_FALSE(HasFatalFailure());
    StartAll({{who, fault}});
    ASSERT_FALSE(HasFailure());
    PauseRandomly(200, 400);
    std::ofstream(trigger) << "full";
    PauseRandomly(300, 600);  // Writes fail this long under load.
    ASSERT_TRUE(stack_.ArmPowerCut(who, 1 + static_cast<int>(rng_() % 3), rng_() % 2 == 1).ok());
    std::filesystem::remove(trigger);
    // Its first syncs on the working disk are the reopen's: the crash point ends them.
    EXPECT_TRUE(ProcessNamed(who).Wait(absl::Seconds(30)).has_value())
        << who << " reached no sync after the disk worked again";
  }
  CutOnceMoreHealAndCheck();
}

}  // namespace
}  // namespace settle::fault
