// The contract kit's cases: participant.proto's result contract, one case per rule.

#include <string>
#include <utility>
#include <vector>

#include "client/conformance_kit.h"

namespace settle::conformance::internal {

using grpc::StatusCode;

void Kit::TwoPhaseCases() {
  Case("Prepare twice: the same vote, one effect", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::PrepareResponse r1, r2;
    KIT_CHECK(WantVote(Prepare(b, &r1), r1, true, "first Prepare (is --payload voted YES?)"));
    KIT_CHECK(WantVote(Prepare(b, &r2), r2, true, "second Prepare"));
    KIT_CHECK(WantState(b, v1::BARRIER_STATE_PREPARED, "after the Prepares"));
    KIT_CHECK(Want(Decide(b, true), StatusCode::OK, "Commit"));
    ++report_.expected_effects;
    return "";
  });
  Case("Commit twice: both acknowledged, one effect", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::PrepareResponse r;
    KIT_CHECK(WantVote(Prepare(b, &r), r, true, "Prepare"));
    KIT_CHECK(Want(Decide(b, true), StatusCode::OK, "first Commit"));
    ++report_.expected_effects;
    KIT_CHECK(Want(Decide(b, true), StatusCode::OK, "second Commit"));
    return WantState(b, v1::BARRIER_STATE_COMMITTED, "after the Commits");
  });
  Case("Abort twice after a YES: both acknowledged, no effect", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::PrepareResponse r;
    KIT_CHECK(WantVote(Prepare(b, &r), r, true, "Prepare"));
    KIT_CHECK(Want(Decide(b, false), StatusCode::OK, "first Abort"));
    KIT_CHECK(Want(Decide(b, false), StatusCode::OK, "second Abort"));
    return WantState(b, v1::BARRIER_STATE_ABORTED, "after the Aborts");
  });
  Case("Abort before Prepare: a tombstone, the late Prepare votes NO", [&]() -> std::string {
    const Branch b = NewBranch();
    KIT_CHECK(Want(Decide(b, false), StatusCode::OK, "Abort of a branch never prepared"));
    v1::PrepareResponse r;
    KIT_CHECK(WantVote(Prepare(b, &r), r, false, "the late Prepare"));
    KIT_CHECK(WantState(b, v1::BARRIER_STATE_ABORTED, "after the late Prepare"));
    return Want(Decide(b, true), StatusCode::FAILED_PRECONDITION, "Commit after the tombstone");
  });
  Case("Commit of an unknown branch: FAILED_PRECONDITION", [&]() -> std::string {
    const Branch b = NewBranch();
    KIT_CHECK(Want(Decide(b, true), StatusCode::FAILED_PRECONDITION, "Commit"));
    return WantState(b, v1::BARRIER_STATE_UNSPECIFIED, "after the refused Commit");
  });
  Case("Commit after Abort: FAILED_PRECONDITION, still aborted", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::PrepareResponse r;
    KIT_CHECK(WantVote(Prepare(b, &r), r, true, "Prepare"));
    KIT_CHECK(Want(Decide(b, false), StatusCode::OK, "Abort"));
    KIT_CHECK(Want(Decide(b, true), StatusCode::FAILED_PRECONDITION, "Commit"));
    return WantState(b, v1::BARRIER_STATE_ABORTED, "after the refused Commit");
  });
  Case("Prepare past its deadline votes NO and holds nothing", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::PrepareResponse r;
    KIT_CHECK(WantVote(Prepare(b, &r, -absl::Seconds(1)), r, false, "Prepare"));
    // The coordinator aborts it; that must be acknowledged and leave no effect.
    return Want(Decide(b, false), StatusCode::OK, "Abort after the NO");
  });
}

void Kit::SagaCases() {
  Case("saga: Act twice, one effect; Compensate twice, undone once", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::StepResponse r1, r2, c1, c2;
    grpc::Status first = Step(b, false, &r1);
    if (first.error_code() == StatusCode::UNIMPLEMENTED) {
      saga_ = false;
      return std::string(kSkip) + "the participant runs no saga steps (UNIMPLEMENTED)";
    }
    KIT_CHECK(WantStep(first, r1, v1::STEP_DONE, "first Act"));
    ++report_.expected_effects;
    KIT_CHECK(WantStep(Step(b, false, &r2), r2, v1::STEP_DONE, "second Act"));
    KIT_CHECK(WantState(b, v1::BARRIER_STATE_COMMITTED, "after the Acts"));
    KIT_CHECK(WantStep(Step(b, true, &c1), c1, v1::STEP_DONE, "first Compensate"));
    --report_.expected_effects;
    KIT_CHECK(WantStep(Step(b, true, &c2), c2, v1::STEP_DONE, "second Compensate"));
    return WantState(b, v1::BARRIER_STATE_ABORTED, "after the Compensates");
  });
  Case("saga: Compensate before Act is empty, the late Act refused", [&]() -> std::string {
    if (!saga_) return std::string(kSkip) + "no saga steps";
    const Branch b = NewBranch();
    v1::StepResponse c, a;
    KIT_CHECK(WantStep(Step(b, true, &c), c, v1::STEP_DONE, "Compensate of an action never run"));
    KIT_CHECK(WantStep(Step(b, false, &a), a, v1::STEP_REFUSED, "the late Act"));
    return WantState(b, v1::BARRIER_STATE_ABORTED, "after the late Act");
  });
}

void Kit::ThreePhaseCases() {
  Case("three-phase: PreCommit after a YES, twice; then Commit", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::PrepareResponse r;
    KIT_CHECK(WantVote(Prepare(b, &r, absl::Seconds(60), /*three_phase=*/true), r, true,
                       "three-phase Prepare"));
    grpc::Status first = PreCommit(b);
    if (first.error_code() == StatusCode::UNIMPLEMENTED) {
      three_phase_ = false;
      Decide(b, false);  // Leaves nothing prepared behind.
      return std::string(kSkip) + "the participant offers no PreCommit (UNIMPLEMENTED)";
    }
    KIT_CHECK(Want(first, StatusCode::OK, "first PreCommit"));
    KIT_CHECK(Want(PreCommit(b), StatusCode::OK, "second PreCommit"));
    KIT_CHECK(WantState(b, v1::BARRIER_STATE_PRECOMMITTED, "after the PreCommits"));
    KIT_CHECK(Want(Decide(b, true), StatusCode::OK, "Commit"));
    ++report_.expected_effects;
    return WantState(b, v1::BARRIER_STATE_COMMITTED, "after the Commit");
  });
  Case("three-phase: PreCommit of an unknown or aborted branch refused", [&]() -> std::string {
    if (!three_phase_) return std::string(kSkip) + "no PreCommit";
    KIT_CHECK(Want(PreCommit(NewBranch()), StatusCode::FAILED_PRECONDITION,
                   "PreCommit of a branch never prepared"));
    const Branch b = NewBranch();
    v1::PrepareResponse r;
    KIT_CHECK(WantVote(Prepare(b, &r, absl::Seconds(60), true), r, true, "three-phase Prepare"));
    KIT_CHECK(Want(Decide(b, false), StatusCode::OK, "Abort"));
    return Want(PreCommit(b), StatusCode::FAILED_PRECONDITION, "PreCommit after the Abort");
  });
}

void Kit::MalformedCases() {
  Case("malformed ids: INVALID_ARGUMENT naming the field", [&]() -> std::string {
    Branch bad_id{"not a settle id", 0};
    v1::PrepareResponse r;
    KIT_CHECK(WantNamed(Prepare(bad_id, &r), "txn_id", "Prepare with txn_id 'not a settle id'"));
    Branch bad_branch = NewBranch();
    bad_branch.branch_id = 1u << 20;
    KIT_CHECK(WantNamed(Prepare(bad_branch, &r), "branch_id", "Prepare with branch_id 2^20"));
    KIT_CHECK(WantNamed(Decide({"", 0}, true), "txn_id", "Commit with an empty txn_id"));
    KIT_CHECK(WantNamed(Decide(bad_id, false), "txn_id", "Abort with a malformed txn_id"));
    if (saga_) {
      v1::StepResponse s;
      KIT_CHECK(WantNamed(Step(bad_id, false, &s), "txn_id", "Act with a malformed txn_id"));
    }
    return "";
  });
  Case("Prepare without a deadline: INVALID_ARGUMENT naming it", [&]() -> std::string {
    const Branch b = NewBranch();
    v1::PrepareRequest req = PrepareRequestFor(b, absl::Seconds(60));
    req.clear_deadline();
    v1::PrepareResponse r;
    KIT_CHECK(WantNamed(stub_.Prepare(Context().get(), req, &r), "deadline", "Prepare"));
    return WantState(b, v1::BARRIER_STATE_UNSPECIFIED, "after the refused Prepare");
  });
}

void Kit::StormCases() {
  Case("storm: concurrent duplicate Prepares, then Commits: one effect", [&]() -> std::string {
    const Branch b = NewBranch();
    KIT_CHECK(Storm([&] {
      v1::PrepareResponse r;
      return WantVote(Prepare(b, &r), r, true, "a concurrent Prepare");
    }));
    KIT_CHECK(Storm([&] { return Want(Decide(b, true), StatusCode::OK, "a concurrent Commit"); }));
    ++report_.expected_effects;
    return WantState(b, v1::BARRIER_STATE_COMMITTED, "after the storm");
  });
  Case("storm: Prepares racing Aborts: aborted, no effect", [&]() -> std::string {
    const Branch b = NewBranch();
    std::atomic<int> calls{0};
    KIT_CHECK(Storm([&]() -> std::string {
      if (calls.fetch_add(1) % 2 == 0) {
        return Want(Decide(b, false), StatusCode::OK, "a concurrent Abort");
      }
      v1::PrepareResponse r;
      return Want(Prepare(b, &r), StatusCode::OK, "a concurrent Prepare");  // Either vote.
    }));
    KIT_CHECK(Want(Decide(b, false), StatusCode::OK, "the Abort after the storm"));
    return WantState(b, v1::BARRIER_STATE_ABORTED, "after the storm");
  });
}

void Kit::BatchCases() {
  Case("batch: duplicates in a batch and a batch sent twice, one effect", [&]() -> std::string {
    auto batch = [&](const std::vector<std::pair<const char*, std::string>>& calls,
                     v1::ParticipantBatchReply* reply) {
      v1::ParticipantBatch request;
      for (const auto& [method, bytes] : calls) {
        v1::ParticipantCall* c = request.add_calls();
        c->set_method(method);
        c->set_request(bytes);
      }
      return stub_.Batch(Context().get(), request, reply);
    };
    v1::ParticipantBatchReply reply;
    const grpc::Status probe = batch({}, &reply);
    if (probe.error_code() == StatusCode::UNIMPLEMENTED) {
      return absl::StrCat(kSkip, "serves no batches (the coordinator sends it the unary calls)");
    }
    KIT_CHECK(Want(probe, StatusCode::OK, "an empty Batch"));
    const Branch b = NewBranch();
    const v1::PrepareRequest prepare = PrepareRequestFor(b, absl::Seconds(60));
    v1::CommitRequest commit;
    commit.set_txn_id(b.txn_id);
    commit.set_branch_id(b.branch_id);
    // Every reply OK, one per call; Prepares must also vote YES.
    auto all_ok = [&](int n, bool votes, const std::string& what) -> std::string {
      if (reply.replies_size() != n) {
        return absl::StrCat(what, ": want ", n, " replies, got ", reply.replies_size());
      }
      for (const v1::ParticipantReply& r : reply.replies()) {
        v1::PrepareResponse vote;
        const grpc::Status s(static_cast<grpc::StatusCode>(r.code()), r.message());
        if (!votes) {
          KIT_CHECK(Want(s, StatusCode::OK, what));
        } else if (!vote.ParseFromString(r.response())) {
          return absl::StrCat(what, ": a reply does not parse as a PrepareResponse");
        } else {
          KIT_CHECK(WantVote(s, vote, true, what));
        }
      }
      return "";
    };
    const std::string p = prepare.SerializeAsString();
    KIT_CHECK(Want(batch({{"Prepare", p}, {"Prepare", p}}, &reply), StatusCode::OK,
                   "a Batch of the same Prepare twice"));
    KIT_CHECK(all_ok(2, true, "the Prepares of one batch"));
    KIT_CHECK(WantState(b, v1::BARRIER_STATE_PREPARED, "after the batched Prepares"));
    const std::string c = commit.SerializeAsString();
    for (int round = 0; round < 2; ++round) {
      KIT_CHECK(Want(batch({{"Commit", c}, {"Commit", c}}, &reply), StatusCode::OK,
                     "a Batch of the same Commit twice"));
      KIT_CHECK(all_ok(2, false, "the Commits of one batch"));
    }
    ++report_.expected_effects;
    return WantState(b, v1::BARRIER_STATE_COMMITTED, "after the batched Commits");
  });
}

}  // namespace settle::conformance::internal
