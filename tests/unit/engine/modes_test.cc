// The mode table: each row's rules, and MakeProtocol's choice of class.

#include "server/engine/modes.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace settle::engine {
namespace {

std::vector<BranchSpec> Steps(const std::vector<uint32_t>& steps) {
  std::vector<BranchSpec> out;
  for (uint32_t s : steps) out.push_back({"balance", "p", s});
  return out;
}

TEST(ModesTest, EachModeChecksItsStepOrder) {
  struct Case {
    Mode mode;
    std::vector<uint32_t> steps;
    bool ok;
  };
  const Case cases[] = {
      {Mode::kTwoPhase, {0, 0, 0}, true},   {Mode::kTwoPhase, {0, 1}, false},
      {Mode::kThreePhase, {0, 0}, true},    {Mode::kThreePhase, {1}, false},
      {Mode::kSaga, {0, 1, 1, 2}, true},    {Mode::kSaga, {0, 0}, true},
      {Mode::kSaga, {0, 2}, false},         {Mode::kSaga, {1}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(ModeName(c.mode)) + " " + testing::PrintToString(c.steps));
    const absl::Status s = RulesFor(c.mode).check_steps(c.mode, Steps(c.steps));
    EXPECT_EQ(s.ok(), c.ok) << s;
    if (!c.ok) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(s.message().find("step"), absl::string_view::npos) << s;
    }
  }
}

TEST(ModesTest, OnlyThreePhaseBranchesCallEachOther) {
  EXPECT_FALSE(RulesFor(Mode::kTwoPhase).branches_call_each_other);
  EXPECT_FALSE(RulesFor(Mode::kSaga).branches_call_each_other);
  EXPECT_TRUE(RulesFor(Mode::kThreePhase).branches_call_each_other);
}

TEST(ModesTest, MakeProtocolBuildsTheRecordsModeAndRefusesAnUnknownOne) {
  for (Mode mode : {Mode::kTwoPhase, Mode::kSaga, Mode::kThreePhase}) {
    storage::TxnRecord rec;
    rec.set_txn_id("s0-1");
    rec.set_mode(ModeToRecord(mode));
    rec.set_state(storage::TXN_PREPARING);
    rec.add_branches()->set_participant("balance");
    auto protocol = MakeProtocol(rec);
    ASSERT_TRUE(protocol.ok()) << protocol.status();
    EXPECT_EQ((*protocol)->mode(), mode);
  }
  storage::TxnRecord unknown;
  unknown.set_txn_id("s0-2");
  unknown.set_mode(static_cast<storage::ModeRecord>(99));
  auto protocol = MakeProtocol(unknown);
  ASSERT_FALSE(protocol.ok());
  EXPECT_EQ(protocol.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(protocol.status().message().find("s0-2"), absl::string_view::npos);
}

}  // namespace
}  // namespace settle::engine
