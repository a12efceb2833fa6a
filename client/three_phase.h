#ifndef SETTLE_CLIENT_THREE_PHASE_H_
#define SETTLE_CLIENT_THREE_PHASE_H_

// Internal to the participant SDK: the participant's side of three-phase commit
// (MODE_THREE_PHASE): its barrier states, its timers and the termination protocol that lets the
// branches of a transaction finish without the coordinator (participant.proto).
//
//   (Prepare with three_phase, YES) PREPARED --PreCommit--> PRECOMMITTED --Commit--> COMMITTED
//        |  no PreCommit within the bound        |  no Commit or Abort within the bound
//        v                                       v
//     termination                             termination
//
// Termination (Skeen's rules, each branch on its own): ask every peer's GetBranchState; a peer
// that does not answer is taken as failed. Any COMMITTED -> commit. Any ABORTED -> abort. Any
// PRECOMMITTED, itself included -> PreCommit every peer still PREPARED (a refusal: abort),
// then commit. Otherwise (all PREPARED or unknown) -> abort: nobody can have committed, since
// the coordinator sends Commit only after every branch is precommitted.
// Consistent while every message arrives within the bound; under a longer partition two
// branches can decide differently, which is three-phase commit's known limit.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/barrier.h"
#include "settle/v1/participant.grpc.pb.h"
#include "storage/branch_store.h"
#include "storage/records.pb.h"

namespace settle::sdk::internal {

// Index of three-phase branches waiting on their timer, in the meta space:
// "3/<barrier key>" -> the instant (unix micros) the timer runs out.
inline constexpr char kTimerPrefix[] = "3/";

// INVALID_ARGUMENT naming the field unless `three` is a usable three-phase section: a valid
// timeout of 1ms to 1 hour, at most 1023 peers with distinct branch ids other than `own`, each
// with an endpoint of 1 to 255 bytes.
absl::Status CheckThreePhase(const v1::ThreePhase& three, uint32_t own);

// Stages what a three-phase YES adds to its barrier record: the bound, the peers, the timer.
void ArmPrepared(const v1::ThreePhase& three, storage::BarrierRecord& rec,
                 storage::WorkView& view, const std::string& key, absl::Time now);

// The unit of work behind Participant.PreCommit at `now` (true keeps its writes).
bool PreCommitWork(const std::string& txn_id, uint32_t branch_id, absl::Time now,
                   storage::WorkView& view, UnitResult& out);

// The termination rule, a pure function: this branch's state (PREPARED or PRECOMMITTED) and
// what each peer answered (nullopt: no answer) -> commit (true) or abort.
bool TerminationCommits(storage::BarrierStateRecord self,
                        const std::vector<std::optional<storage::BarrierStateRecord>>& peers);

// Runs the timers of one participant: every due branch goes through the termination protocol.
// Blocks on RPCs to peers: runs on the participant's background thread (or a test's).
// Thread-safe. `store` must outlive it.
class ThreePhaseTimers final {
 public:
  // Applies a decision to a local branch (the same unit of work as a Commit or Abort).
  using Decide = std::function<absl::Status(const std::string& txn_id, uint32_t branch_id,
                                            bool commit)>;
  // `credentials`: of the calls to peers.
  ThreePhaseTimers(storage::BranchStore& store, Decide decide,
                   std::shared_ptr<grpc::ChannelCredentials> credentials);

  // Terminates every branch whose timer ran out by `now`. Returns how many it finished.
  int RunDue(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One branch: asks its peers, decides, applies. OK once the branch is finished here.
  absl::Status Terminate(const std::string& txn_id, uint32_t branch_id,
                         const storage::BarrierRecord& rec);
  v1::Participant::Stub& PeerStub(const std::string& endpoint) ABSL_LOCKS_EXCLUDED(mu_);

  storage::BranchStore& store_;
  const Decide decide_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<v1::Participant::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace settle::sdk::internal

#endif  // SETTLE_CLIENT_THREE_PHASE_H_
