#ifndef SETTLE_SERVER_ENGINE_THREE_PHASE_H_
#define SETTLE_SERVER_ENGINE_THREE_PHASE_H_

#include <cstdint>
#include <string>

#include "server/engine/two_phase.h"

namespace settle::engine {

// Three-phase commit (Skeen, 1981): two-phase commit with a PreCommit round between the votes
// and COMMIT, so that participants can finish without the coordinator. Each Prepare carries the
// bound T on message delays (record.three_phase_timeout_micros) and the other branches'
// endpoints; the participant SDK keeps the timers and runs the termination protocol
// (participant.proto) when the coordinator falls silent.
//
//   PREPARING --every YES--> PRECOMMITTING record FORCED, then PreCommit to every branch
//       |                      |  every PreCommit acked, or T passed since they went out with
//       |                      |  no refusal (a silent branch is taken as failed: it learns
//       |                      |  COMMIT from its peers) --> COMMIT forced -> as two-phase
//       |                      |  a PreCommit refused (that branch already aborted on its
//       |                      |  timer) --> ABORT
//       +--a NO, a failure, an operator abort, Resume--> ABORT (as two-phase)
//
// Why PRECOMMITTING is forced before any PreCommit: a coordinator that restarts without it
// presumes abort, which is safe only if no branch was ever precommitted (a precommitted branch
// may commit on its own).
//
// A Commit or Abort refused (FAILED_PRECONDITION: the branch decided otherwise on its timer)
// is the divergence three-phase commit allows when a message took longer than T: the branch is
// marked NEEDS_ATTENTION (forced) and the transaction parks once every other branch acked,
// for an operator to retry or resolve. It is never retried blindly, never dropped.
//
// Recovery (Resume): PREPARING -> ABORT; PRECOMMITTING -> PreCommit sent again to every
// branch (each answers from what it did meanwhile, its timers included); later states as
// two-phase, a parked branch asked once more.
class ThreePhase final : public TwoPhase {
 public:
  // A new transaction takes the bound from `options`; a logged one keeps the one it began with.
  ThreePhase(storage::TxnRecord record, const ProtocolOptions& options);

  Actions Resume(absl::Time now) override;
  Actions OnAnswer(uint32_t branch, Phase phase, const Answer& answer, absl::Time now) override;
  Actions OnWritten(RecordKind kind, const absl::Status& status, absl::Time now) override;
  absl::StatusOr<Actions> OnOperatorAbort(const std::string& reason, absl::Time now) override;
  absl::StatusOr<Actions> OnOperatorRetry(const std::string& who, const std::string& reason,
                                          absl::Time now) override;
  absl::StatusOr<Actions> OnOperatorResolve(const std::string& who, const std::string& reason,
                                            absl::Time now) override;
  // As two-phase: kept until the decision is logged (no call needs them after the Prepares,
  // but the COMMIT record must carry them: a retried key is compared against it).
  // Parked: a branch decided otherwise and every other branch acknowledged.
  bool needs_attention() const override;

 private:
  Actions OnAllVotedYes(absl::Time now) override;
  Actions OnPreCommitAck(uint32_t branch, const Answer& answer, absl::Time now);
  // The PRECOMMITTING record is durable (or was found on Resume): PreCommit to every branch.
  Actions SendPreCommits(absl::Time now);
  // A branch refused the decision: mark it, forced. Nothing if it already was.
  Actions Park(uint32_t branch, const Answer& answer, absl::Time now);
  bool AnyParked() const;
  absl::Duration timeout() const;

  bool precommit_logging_ = false;  // The PRECOMMITTING record is being written.
  absl::Time precommits_sent_;      // When the PreCommit round (re)started.
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_THREE_PHASE_H_
