#include "tests/testing/scripted_participant.h"

#include "gtest/gtest.h"

namespace settle::testing {
namespace {

TEST(ScriptedParticipantTest, FailsExactlyTheScriptedNumberOfCommits) {
  ScriptedParticipant p;
  p.FailCommits(2, absl::UnavailableError("down"));
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 3; ++i) {
    p.Commit({"t", 0}, absl::Now(), [&codes](absl::Status s) { codes.push_back(s.code()); });
  }
  EXPECT_EQ(codes, (std::vector<absl::StatusCode>{absl::StatusCode::kUnavailable,
                                                  absl::StatusCode::kUnavailable,
                                                  absl::StatusCode::kOk}));
  EXPECT_EQ(p.commits("t"), 3);
}

TEST(ScriptedParticipantTest, AnswersEveryPrepareWithTheScriptedVote) {
  ScriptedParticipant p;
  p.SetVote(engine::VoteResult{false, "no funds"});
  bool yes = true;
  engine::PrepareCall call;
  call.ref = {"t", 0};
  call.participant = "balance";
  call.deadline = absl::Now();
  p.Prepare(call,
            [&yes](absl::StatusOr<engine::VoteResult> v) { yes = v.ok() && v->yes; });
  EXPECT_FALSE(yes);
  EXPECT_EQ(p.prepares("t"), 1);
}

}  // namespace
}  // namespace settle::testing
