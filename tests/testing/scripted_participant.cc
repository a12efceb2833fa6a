#include "tests/testing/scripted_participant.h"

namespace settle::testing {

void ScriptedParticipant::SetVote(absl::StatusOr<engine::VoteResult> vote) {
  absl::MutexLock lock(&mu_);
  vote_ = std::move(vote);
}

void ScriptedParticipant::FailCommits(int n, absl::Status error) {
  absl::MutexLock lock(&mu_);
  commit_failures_ = {n, std::move(error)};
}

void ScriptedParticipant::FailAborts(int n, absl::Status error) {
  absl::MutexLock lock(&mu_);
  abort_failures_ = {n, std::move(error)};
}

void ScriptedParticipant::FailPreCommits(int n, absl::Status error) {
  absl::MutexLock lock(&mu_);
  precommit_failures_ = {n, std::move(error)};
}

absl::Status ScriptedParticipant::NextFailure(Failures& f) {
  if (f.remaining == 0) return absl::OkStatus();
  if (f.remaining > 0) --f.remaining;
  return f.error;
}

void ScriptedParticipant::Prepare(const engine::PrepareCall& call,
                                  std::function<void(absl::StatusOr<engine::VoteResult>)> done) {
  absl::StatusOr<engine::VoteResult> vote;
  {
    absl::MutexLock lock(&mu_);
    ++counts_[call.ref.txn_id].prepares;
    vote = vote_;
    last_prepare_ = call;
  }
  Answer([done = std::move(done), vote = std::move(vote)]() mutable { done(std::move(vote)); });
}

void ScriptedParticipant::Deliver(const engine::BranchRef& ref, int Counts::*count,
                                  Failures ScriptedParticipant::*failures,
                                  std::function<void(absl::Status)> done) {
  absl::Status s;
  {
    absl::MutexLock lock(&mu_);
    ++(counts_[ref.txn_id].*count);
    s = NextFailure(this->*failures);
  }
  Answer([done = std::move(done), s] { done(s); });
}

void ScriptedParticipant::Commit(const engine::BranchRef& ref, absl::Time,
                                 std::function<void(absl::Status)> done) {
  Deliver(ref, &Counts::commits, &ScriptedParticipant::commit_failures_, std::move(done));
}

void ScriptedParticipant::Abort(const engine::BranchRef& ref, absl::Time,
                                std::function<void(absl::Status)> done) {
  Deliver(ref, &Counts::aborts, &ScriptedParticipant::abort_failures_, std::move(done));
}

void ScriptedParticipant::PreCommit(const engine::BranchRef& ref, absl::Time,
                                    std::function<void(absl::Status)> done) {
  Deliver(ref, &Counts::precommits, &ScriptedParticipant::precommit_failures_, std::move(done));
}

void ScriptedParticipant::SetCallableByPeers(bool callable) {
  absl::MutexLock lock(&mu_);
  callable_by_peers_ = callable;
}

bool ScriptedParticipant::CallableByPeers() const {
  absl::MutexLock lock(&mu_);
  return callable_by_peers_;
}

engine::PrepareCall ScriptedParticipant::last_prepare() const {
  absl::MutexLock lock(&mu_);
  return last_prepare_;
}

void ScriptedParticipant::ScriptActs(std::vector<absl::StatusOr<engine::StepResult>> answers) {
  absl::MutexLock lock(&mu_);
  act_script_.assign(answers.begin(), answers.end());
}

void ScriptedParticipant::ScriptCompensations(
    std::vector<absl::StatusOr<engine::StepResult>> answers) {
  absl::MutexLock lock(&mu_);
  compensation_script_.assign(answers.begin(), answers.end());
}

void ScriptedParticipant::Act(const engine::PrepareCall& call,
                              std::function<void(absl::StatusOr<engine::StepResult>)> done) {
  absl::StatusOr<engine::StepResult> r = engine::StepResult{};
  {
    absl::MutexLock lock(&mu_);
    Counts& c = counts_[call.ref.txn_id];
    ++c.acts;
    if (!act_script_.empty()) {
      r = act_script_.front();
      act_script_.pop_front();
    }
    if (r.ok() && r->kind == engine::StepResult::Kind::kDone) {
      if (c.compensated) {
        r = engine::StepResult{engine::StepResult::Kind::kRefused, "compensated before it came"};
      } else {
        c.acted = true;
      }
    }
  }
  Answer([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void ScriptedParticipant::Compensate(const engine::PrepareCall& call,
                                     std::function<void(absl::StatusOr<engine::StepResult>)> done) {
  absl::StatusOr<engine::StepResult> r = engine::StepResult{};
  {
    absl::MutexLock lock(&mu_);
    Counts& c = counts_[call.ref.txn_id];
    ++c.compensations;
    if (!compensation_script_.empty()) {
      r = compensation_script_.front();
      compensation_script_.pop_front();
    }
    if (r.ok() && r->kind == engine::StepResult::Kind::kDone) c.compensated = true;
  }
  Answer([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

const ScriptedParticipant::Counts* ScriptedParticipant::Find(const std::string& txn_id) const {
  auto it = counts_.find(txn_id);
  return it == counts_.end() ? nullptr : &it->second;
}

int ScriptedParticipant::acts(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  const Counts* c = Find(txn_id);
  return c == nullptr ? 0 : c->acts;
}

int ScriptedParticipant::compensations(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  const Counts* c = Find(txn_id);
  return c == nullptr ? 0 : c->compensations;
}

int ScriptedParticipant::net_effect(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  const Counts* c = Find(txn_id);
  return c != nullptr && c->acted && !c->compensated ? 1 : 0;
}

bool ScriptedParticipant::acted(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  const Counts* c = Find(txn_id);
  return c != nullptr && c->acted;
}

void ScriptedParticipant::Answer(std::function<void()> answer) {
  {
    absl::MutexLock lock(&mu_);
    if (hold_) {
      held_.push_back(std::move(answer));
      return;
    }
  }
  answer();
}

void ScriptedParticipant::Hold(bool hold) {
  absl::MutexLock lock(&mu_);
  hold_ = hold;
}

int ScriptedParticipant::ReleaseHeld() {
  std::vector<std::function<void()>> held;
  {
    absl::MutexLock lock(&mu_);
    held.swap(held_);
  }
  for (auto& answer : held) answer();
  return static_cast<int>(held.size());
}

int ScriptedParticipant::prepares(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(txn_id);
  return it == counts_.end() ? 0 : it->second.prepares;
}

int ScriptedParticipant::commits(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(txn_id);
  return it == counts_.end() ? 0 : it->second.commits;
}

int ScriptedParticipant::aborts(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(txn_id);
  return it == counts_.end() ? 0 : it->second.aborts;
}

int ScriptedParticipant::precommits(const std::string& txn_id) const {
  absl::MutexLock lock(&mu_);
  const Counts* c = Find(txn_id);
  return c == nullptr ? 0 : c->precommits;
}

int ScriptedParticipant::total_calls() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [id, c] : counts_) {
    n += c.prepares + c.commits + c.aborts + c.acts + c.compensations + c.precommits;
  }
  return n;
}

absl::StatusOr<std::shared_ptr<engine::ParticipantChannel>> ScriptedChannelFactory::Create(
    const std::string& endpoint) {
  return std::shared_ptr<engine::ParticipantChannel>(At(endpoint));
}

std::shared_ptr<ScriptedParticipant> ScriptedChannelFactory::At(const std::string& endpoint) {
  absl::MutexLock lock(&mu_);
  auto& p = by_endpoint_[endpoint];
  if (p == nullptr) p = std::make_shared<ScriptedParticipant>();
  return p;
}

}  // namespace settle::testing
