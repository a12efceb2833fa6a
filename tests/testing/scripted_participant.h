#ifndef SETTLE_TESTS_TESTING_SCRIPTED_PARTICIPANT_H_
#define SETTLE_TESTS_TESTING_SCRIPTED_PARTICIPANT_H_

#include <deque>
#include <map>
#include <vector>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/participant_channel.h"

namespace settle::testing {

// A participant whose answers a test scripts. Answers inline, on the calling thread. Counts
// every call per transaction. As a saga participant it keeps a barrier per transaction, as the
// SDK does: an action takes effect once, a compensation undoes it once, a compensation before
// the action leaves a tombstone that refuses the action. Thread-safe.
class ScriptedParticipant final : public engine::ParticipantChannel {
 public:
  // The answer to every Prepare (default: YES).
  void SetVote(absl::StatusOr<engine::VoteResult> vote) ABSL_LOCKS_EXCLUDED(mu_);
  // The next `n` Commits (or Aborts) fail with `error`; later ones succeed. n < 0: forever.
  void FailCommits(int n, absl::Status error) ABSL_LOCKS_EXCLUDED(mu_);
  void FailAborts(int n, absl::Status error) ABSL_LOCKS_EXCLUDED(mu_);
  void FailPreCommits(int n, absl::Status error) ABSL_LOCKS_EXCLUDED(mu_);

  // Saga answers: the next ones, in order (then kDone). A kDone answer is what the barrier
  // makes of it (a hanging action is refused).
  void ScriptActs(std::vector<absl::StatusOr<engine::StepResult>> answers)
      ABSL_LOCKS_EXCLUDED(mu_);
  void ScriptCompensations(std::vector<absl::StatusOr<engine::StepResult>> answers)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Act(const engine::PrepareCall& call,
           std::function<void(absl::StatusOr<engine::StepResult>)> done) override;
  void Compensate(const engine::PrepareCall& call,
                  std::function<void(absl::StatusOr<engine::StepResult>)> done) override;
  int acts(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);           // Calls.
  int compensations(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);  // Calls.
  // The net effect of a saga branch here: 1 if its action took effect and was not undone.
  int net_effect(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);
  bool acted(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);

  void Prepare(const engine::PrepareCall& call,
               std::function<void(absl::StatusOr<engine::VoteResult>)> done) override;
  void Commit(const engine::BranchRef& ref, absl::Time deadline,
              std::function<void(absl::Status)> done) override;
  void Abort(const engine::BranchRef& ref, absl::Time deadline,
             std::function<void(absl::Status)> done) override;
  void PreCommit(const engine::BranchRef& ref, absl::Time deadline,
                 std::function<void(absl::Status)> done) override;
  // The last Prepare received (its three-phase bound and peers included).
  engine::PrepareCall last_prepare() const ABSL_LOCKS_EXCLUDED(mu_);
  // As a participant reached only through a broker answers (default: callable).
  void SetCallableByPeers(bool callable) ABSL_LOCKS_EXCLUDED(mu_);
  bool CallableByPeers() const override ABSL_LOCKS_EXCLUDED(mu_);

  // While held, calls are counted but not answered until ReleaseHeld() (a slow participant).
  void Hold(bool hold) ABSL_LOCKS_EXCLUDED(mu_);
  // Answers every held call, in arrival order, on this thread. Returns how many.
  int ReleaseHeld() ABSL_LOCKS_EXCLUDED(mu_);

  // Calls seen so far for one transaction (all its branches here).
  int prepares(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);
  int commits(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);  // Incl. failed ones.
  int aborts(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);
  int precommits(const std::string& txn_id) const ABSL_LOCKS_EXCLUDED(mu_);  // Incl. failed.
  int total_calls() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Counts {
    int prepares = 0, commits = 0, aborts = 0, acts = 0, compensations = 0, precommits = 0;
    bool acted = false, compensated = false;
  };
  // The next `remaining` calls of one kind fail with `error` (< 0: all of them).
  struct Failures {
    int remaining = 0;
    absl::Status error;
  };
  const Counts* Find(const std::string& txn_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static absl::Status NextFailure(Failures& f);
  // Commit, Abort and PreCommit: counts the call, answers the next scripted failure or OK.
  void Deliver(const engine::BranchRef& ref, int Counts::*count,
               Failures ScriptedParticipant::*failures, std::function<void(absl::Status)> done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `answer` now, or keeps it while held.
  void Answer(std::function<void()> answer) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  absl::StatusOr<engine::VoteResult> vote_ ABSL_GUARDED_BY(mu_) = engine::VoteResult{true, ""};
  Failures commit_failures_ ABSL_GUARDED_BY(mu_);
  Failures abort_failures_ ABSL_GUARDED_BY(mu_);
  Failures precommit_failures_ ABSL_GUARDED_BY(mu_);
  engine::PrepareCall last_prepare_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Counts> counts_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  bool callable_by_peers_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::StatusOr<engine::StepResult>> act_script_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::StatusOr<engine::StepResult>> compensation_script_ ABSL_GUARDED_BY(mu_);
};

// Hands out one ScriptedParticipant per endpoint. Thread-safe.
class ScriptedChannelFactory final : public engine::ParticipantChannelFactory {
 public:
  absl::StatusOr<std::shared_ptr<engine::ParticipantChannel>> Create(
      const std::string& endpoint) override ABSL_LOCKS_EXCLUDED(mu_);
  // The participant behind `endpoint`, made on first use.
  std::shared_ptr<ScriptedParticipant> At(const std::string& endpoint) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ScriptedParticipant>> by_endpoint_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::testing

#endif  // SETTLE_TESTS_TESTING_SCRIPTED_PARTICIPANT_H_
