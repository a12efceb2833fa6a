#ifndef SETTLE_SERVER_ENGINE_TWO_PHASE_H_
#define SETTLE_SERVER_ENGINE_TWO_PHASE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/engine/protocol.h"

namespace settle::engine {

// Two-phase commit with presumed abort; TCC runs as this protocol (Try = Prepare,
// Confirm = Commit, Cancel = Abort).
//
//        Start: begin record queued (not forced), Prepare sent to every branch
//                 |
//                 v
//   +------- PREPARING ---------------------------------------------+
//   |  every branch votes YES                                        | a NO, a failed Prepare, an
//   |     -> COMMIT record, forced                                   | operator abort, or Resume
//   |        (written: decided, Commit sent;                         | -> ABORT record (not forced)
//   |         failed: callers told UNAVAILABLE, ABORT forced)        |
//   v                                                                v
// COMMITTING --every branch acked--> COMMITTED          ABORTING --acked--> ABORTED
//   (unanswered calls repeated with     (finish record,    (same repeats;     (finish record,
//    backoff, never given up)            not forced)        a NO needs none)   not forced)
//
// While the COMMIT record is being forced the state stays PREPARING and GetDecision answers
// UNDECIDED: never a COMMIT a crash could still undo. Once a decision is started no vote, timeout
// or operator can start another.
//
// Recovery (Resume): PREPARING -> ABORT (no decision reached the log, so none was announced);
// COMMITTING / ABORTING -> deliver again; a lost finish record only repeats a delivery, which
// participants answer idempotently.
//
// Three-phase commit (three_phase.h) is this protocol with a PreCommit round: it takes over
// at the hooks below, and keeps everything else.
class TwoPhase : public Protocol {
 public:
  explicit TwoPhase(storage::TxnRecord record);

  Actions Start(absl::Time now) override;
  Actions Resume(absl::Time now) override;
  Actions OnAnswer(uint32_t branch, Phase phase, const Answer& answer, absl::Time now) override;
  Actions OnWritten(RecordKind kind, const absl::Status& status, absl::Time now) override;
  absl::StatusOr<Actions> OnOperatorAbort(const std::string& reason, absl::Time now) override;
  Decision decision() const override;
  bool needs_payloads() const override { return !decided(); }

 protected:
  TwoPhase(storage::TxnRecord record, Mode mode);
  // Every branch voted YES. Two-phase: the COMMIT record, forced.
  virtual Actions OnAllVotedYes(absl::Time now);
  // Starts the COMMIT decision and returns its (forced) write.
  Actions StartCommit(absl::Time now);
  // Starts an ABORT; false if a decision was already started.
  bool StartAbort(int refused_branch, const std::string& reason);
  // The write of the started decision, always forced: a caller hears an outcome only once its
  // record is on stable storage. An ABORT lost to a power cut (with the begin before it) would
  // let a retry of the same key run as a new transaction, and perhaps commit.
  WriteAction DecisionWrite(absl::Time now) const;
  // A record that would have made COMMIT possible could not be written: the callers are told,
  // and an ABORT is forced (it supersedes the record, whether or not it reached the disk).
  Actions DecisionNotLogged(const absl::Status& status, absl::Time now);
  uint32_t branch_count() const;
  bool decision_started() const { return decision_started_; }
  bool decide_commit() const { return decide_commit_; }

 private:
  Actions OnVote(uint32_t branch, const Answer& answer, absl::Time now);
  Actions OnAck(uint32_t branch, Phase phase, const Answer& answer, absl::Time now);
  // The decision is durable: answer the callers and deliver it, or finish.
  Actions Apply(absl::Time now);
  std::vector<SendAction> Deliveries() const;
  bool AllAcked() const;
  // Acknowledged: the record says the branch committed or aborted (derived, never stored apart).
  bool acked(uint32_t branch) const;
  WriteAction FinishWrite(absl::Time now);

  bool decision_started_ = false;
  bool decide_commit_ = false;
  // The decision record failed once: the callers were told, and ABORT is forced until written.
  bool forcing_abort_ = false;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_TWO_PHASE_H_
