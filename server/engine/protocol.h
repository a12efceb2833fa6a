#ifndef SETTLE_SERVER_ENGINE_PROTOCOL_H_
#define SETTLE_SERVER_ENGINE_PROTOCOL_H_

// The seam between a transaction mode and the coordinator that runs it (STYLE.md §10). A
// protocol is the state machine of one transaction: events in, actions out, no I/O, no threads,
// no clock of its own (every event carries `now`). The coordinator executes the actions (log
// writes, calls to participants, answers to callers) and feeds their results back as events; it
// never asks which mode a transaction runs.
//
// The lifecycle every mode shares lives in the base class (the record, its outcome, payload
// shedding); each mode implements its policy and its own recovery, as RocksDB's
// WriteCommittedTxn and WritePreparedTxn do under PessimisticTransaction.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/records.pb.h"

namespace settle::engine {

// The transaction modes. Converted explicitly at the API edge (server/service/api_convert.cc)
// and at the record edge (ModeFromRecord / ModeToRecord); neither enum's numbers leak here.
enum class Mode { kTwoPhase, kSaga, kThreePhase };
// Bounded label for metrics and logs: "two_phase", "saga", "three_phase".
const char* ModeName(Mode mode);
// INVALID_ARGUMENT-worthy values (unknown numbers) come back as nullopt.
std::optional<Mode> ModeFromRecord(storage::ModeRecord mode);
storage::ModeRecord ModeToRecord(Mode mode);

// Lower-case name of a record state, for logs and metrics ("committing").
const char* TxnStateName(storage::TxnStateRecord state);

// What GetDecision answers for a transaction.
enum class Decision { kCommit, kAbort, kUndecided };

// What the coordinator asks of one branch: the two-phase calls, or a saga step's action and
// its compensation.
enum class Phase { kPrepare, kCommit, kAbort, kAct, kCompensate, kPreCommit };
// The participant method a phase is, for metrics and logs: "Prepare", "Commit", "Act", ...
const char* PhaseName(Phase phase);

// One branch as a caller asks for it.
struct BranchSpec {
  std::string participant;
  std::string payload;
  uint32_t step = 0;  // MODE_SAGA: the step it runs in (0, 1, 2...); 0 for other modes.
};

// A participant's answer to one call. A status that is not OK means no answer (unreachable,
// deadline passed, circuit open) or an error; for a Prepare, `yes` and `reason` are its vote; for
// a saga action, `yes = false` is a refusal (a declined card), for a compensation one that
// retrying cannot fix; `in_progress`: accepted, the outcome comes later (ask again).
struct Answer {
  absl::Status status;
  bool yes = true;
  std::string reason;
  bool in_progress = false;

  static Answer NoAnswer(absl::Status status) {
    Answer a;
    a.status = std::move(status);
    return a;
  }
};

// True for errors a later attempt may not see (unreachable, overloaded, timed out); false for
// answers that say the call itself is wrong (unknown method, bad payload).
bool Retryable(const absl::Status& status);

// Settings every protocol of this coordinator shares.
struct ProtocolOptions {
  // Attempts of a saga action that gets no answer before the saga compensates.
  int saga_action_attempts = 5;
  // Three-phase commit's bound on message delays (participants' timers; the PreCommit round).
  absl::Duration three_phase_timeout = absl::Seconds(5);
};

// Which record a write carries: the coordinator maps it onto a log batch.
enum class RecordKind {
  kBegin,     // The transaction's first record and its idempotency key.
  kDecision,  // A decision, standing alone (it repeats the key).
  kPreCommit, // Three-phase: every branch voted YES; stands alone like a decision.
  kUpdate,    // Progress of an active transaction.
  kFinish,    // Terminal: the record moves to the finished set.
};

struct WriteAction {
  RecordKind kind;
  storage::TxnRecord record;
  bool forced = false;       // Synced before the write counts as done.
  bool after_pause = false;  // A repeat of a write that failed: wait a retry interval first.
};

struct SendAction {
  uint32_t branch = 0;
  Phase phase = Phase::kPrepare;
  // A repeat of a call that got no answer: the coordinator waits its capped, jittered backoff
  // for the branch first. Only calls that carry a decided outcome are repeated.
  bool retry = false;
};

// What one event asks the coordinator to do, in this order: fail the callers, answer the
// callers waiting for the outcome, queue the write, send the calls, forget the transaction.
// The write is queued before any call goes out, so a record precedes what it announces.
struct Actions {
  // Callers waiting for the outcome are told this error (the decision could not be logged).
  std::optional<absl::Status> fail_callers;
  // The outcome is durable: callers waiting only for it get it now. Set once per transaction.
  bool decided = false;
  std::optional<WriteAction> write;
  std::vector<SendAction> sends;
  // The terminal record is written: every caller left gets the outcome and the transaction
  // leaves the active set.
  bool finished = false;
};

// What Execute reports. An abort is an outcome, not an error.
struct ExecuteResult {
  std::string txn_id;
  bool committed = false;
  int refused_branch = -1;
  std::string refused_participant;
  std::string reason;
  bool replayed = false;
};

// The outcome a logged record stands for (COMMITTING or COMMITTED is committed).
ExecuteResult ResultFromRecord(const storage::TxnRecord& rec);
// True if both ask for the same work: mode, and each branch's participant and payload.
bool SameBody(const storage::TxnRecord& a, const storage::TxnRecord& b);

// One transaction's protocol. Not thread-safe: its owner (Transaction) serialises events.
class Protocol {
 public:
  // Built by MakeProtocol (modes.h), the one place that maps a mode to its class.
  virtual ~Protocol() = default;
  Protocol(const Protocol&) = delete;
  Protocol& operator=(const Protocol&) = delete;

  // Events. `Start` runs once for a new transaction, `Resume` once for one loaded from the log
  // after a crash; exactly one of them comes first.
  virtual Actions Start(absl::Time now) = 0;
  virtual Actions Resume(absl::Time now) = 0;
  virtual Actions OnAnswer(uint32_t branch, Phase phase, const Answer& answer,
                           absl::Time now) = 0;
  virtual Actions OnWritten(RecordKind kind, const absl::Status& status, absl::Time now) = 0;
  // An operator's abort. FAILED_PRECONDITION (naming the decision) when it is too late.
  virtual absl::StatusOr<Actions> OnOperatorAbort(const std::string& reason,
                                                  absl::Time now) = 0;
  // A parked transaction (one that needs attention): try its failed calls again, or mark it
  // resolved by hand. FAILED_PRECONDITION for a transaction that is not parked.
  virtual absl::StatusOr<Actions> OnOperatorRetry(const std::string& who,
                                                  const std::string& reason, absl::Time now);
  virtual absl::StatusOr<Actions> OnOperatorResolve(const std::string& who,
                                                    const std::string& reason, absl::Time now);
  // Parked: nothing happens until an operator acts.
  virtual bool needs_attention() const { return false; }

  // GetDecision's answer for this transaction. Never kCommit before that commit is durable.
  virtual Decision decision() const = 0;
  // False once no call left to send carries a payload: the owner may shed them.
  virtual bool needs_payloads() const = 0;

  // The lifecycle every mode shares.
  const storage::TxnRecord& record() const { return record_; }
  Mode mode() const { return mode_; }
  // The outcome is durable (callers may hear it); terminal: every branch has it too. Every mode
  // keeps these meanings of the record's state.
  bool decided() const;
  bool terminal() const;
  ExecuteResult Result() const { return ResultFromRecord(record_); }
  // Drops branch payloads from memory; the log keeps them. Idempotent.
  void ShedPayloads();
  bool payloads_shed() const { return payloads_shed_; }

 protected:
  Protocol(storage::TxnRecord record, Mode mode);
  // Records an operator's command in the transaction's record (who, when, why).
  void AddOperatorAction(const std::string& action, const std::string& who,
                         const std::string& reason, absl::Time now);
  storage::TxnRecord record_;

 private:
  const Mode mode_;
  bool payloads_shed_ = false;
};

}  // namespace settle::engine

#endif  // SETTLE_SERVER_ENGINE_PROTOCOL_H_
