#include "client/three_phase.h"

#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "grpcpp/create_channel.h"

namespace settle::sdk::internal {

using storage::BarrierRecord;
using storage::BarrierStateRecord;
using storage::Space;

namespace {

constexpr size_t kMaxEndpointBytes = 255;
constexpr int kMaxPeers = 1023;
// A termination pass looks at this many due branches; the next pass takes the rest.
constexpr size_t kDueBatch = 100;

absl::Duration TimeoutOf(const BarrierRecord& rec) {
  return absl::Microseconds(rec.three_phase_timeout_micros());
}

// How long a peer has to answer: the bound itself, capped so one dead peer does not hold up
// every other due branch for long.
absl::Duration PeerDeadline(const BarrierRecord& rec) {
  return std::clamp(TimeoutOf(rec), absl::Milliseconds(50), absl::Seconds(2));
}

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

}  // namespace

absl::Status CheckThreePhase(const v1::ThreePhase& three, uint32_t own) {
  const auto& t = three.timeout();
  const bool valid = t.seconds() >= 0 && t.nanos() >= 0 && t.nanos() <= 999999999;
  const absl::Duration d = absl::Seconds(t.seconds()) + absl::Nanoseconds(t.nanos());
  if (!three.has_timeout() || !valid || d < absl::Milliseconds(1) || d > absl::Hours(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "three_phase.timeout must be a valid Duration of 1ms to 1h (seconds ", t.seconds(),
        ", nanos ", t.nanos(), ")"));
  }
  if (three.peers_size() > kMaxPeers) {
    return absl::InvalidArgumentError(absl::StrCat("three_phase.peers has ", three.peers_size(),
                                                   " entries; at most ", kMaxPeers));
  }
  std::set<uint32_t> seen;
  for (const auto& p : three.peers()) {
    if (p.branch_id() == own || p.branch_id() > kMaxPeers || !seen.insert(p.branch_id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "three_phase.peers names branch ", p.branch_id(),
          " twice, out of range, or this branch itself"));
    }
    if (p.endpoint().empty() || p.endpoint().size() > kMaxEndpointBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "three_phase.peers endpoint of branch ", p.branch_id(), " ", Echo(p.endpoint()),
          " must be 1 to ", kMaxEndpointBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

void ArmPrepared(const v1::ThreePhase& three, BarrierRecord& rec, storage::WorkView& view,
                 const std::string& key, absl::Time now) {
  const absl::Duration timeout =
      absl::Seconds(three.timeout().seconds()) + absl::Nanoseconds(three.timeout().nanos());
  rec.set_three_phase_timeout_micros(absl::ToInt64Microseconds(timeout));
  for (const auto& p : three.peers()) {
    auto* peer = rec.add_peers();
    peer->set_branch_id(p.branch_id());
    peer->set_endpoint(p.endpoint());
  }
  view.Put(Space::kMeta, kTimerPrefix + key, absl::StrCat(absl::ToUnixMicros(now + timeout)));
}

bool PreCommitWork(const std::string& txn_id, uint32_t branch_id, absl::Time now,
                   storage::WorkView& view, UnitResult& out) {
  const std::string key = BarrierKey(txn_id, branch_id);
  std::optional<BarrierRecord> barrier;
  if (!ReadBarrierFor(view, key, &barrier, out)) return false;
  if (!barrier.has_value() || barrier->three_phase_timeout_micros() == 0) {
    out.error = absl::FailedPreconditionError(absl::StrCat(
        "branch ", key, " was never prepared here for three-phase commit; a PreCommit for it "
        "breaks the protocol"));
    return false;
  }
  switch (barrier->state()) {
    case storage::BARRIER_PRECOMMITTED:
    case storage::BARRIER_COMMITTED:
      return false;  // A duplicate, or a peer's termination got here first: one effect.
    case storage::BARRIER_PREPARED:
      break;
    default:
      out.error = absl::FailedPreconditionError(
          absl::StrCat("branch ", key, " already aborted here; it cannot be precommitted"));
      return false;
  }
  barrier->set_state(storage::BARRIER_PRECOMMITTED);
  view.Put(Space::kMeta, kTimerPrefix + key,
           absl::StrCat(absl::ToUnixMicros(now + TimeoutOf(*barrier))));
  out.effect = "precommitted";
  WriteBarrier(view, key, *std::move(barrier), now);
  return true;
}

bool TerminationCommits(BarrierStateRecord self,
                        const std::vector<std::optional<BarrierStateRecord>>& peers) {
  bool any_precommitted = self == storage::BARRIER_PRECOMMITTED;
  for (const auto& p : peers) {
    if (p == storage::BARRIER_COMMITTED) return true;
  }
  for (const auto& p : peers) {
    if (p == storage::BARRIER_ABORTED) return false;
    if (p == storage::BARRIER_PRECOMMITTED) any_precommitted = true;
  }
  return any_precommitted;
}

ThreePhaseTimers::ThreePhaseTimers(storage::BranchStore& store, Decide decide,
                                   std::shared_ptr<grpc::ChannelCredentials> credentials)
    : store_(store), decide_(std::move(decide)), credentials_(std::move(credentials)) {}

v1::Participant::Stub& ThreePhaseTimers::PeerStub(const std::string& endpoint) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[endpoint];
  if (stub == nullptr) {
    stub = v1::Participant::NewStub(grpc::CreateChannel(endpoint, credentials_));
  }
  return *stub;
}

int ThreePhaseTimers::RunDue(absl::Time now) {
  std::vector<std::string> due;
  absl::Status s = store_.Scan(
      Space::kMeta, kTimerPrefix, "", [&](const std::string& key, const std::string& value) {
        int64_t at = 0;
        if (absl::SimpleAtoi(value, &at) && at <= absl::ToUnixMicros(now)) {
          due.push_back(key.substr(sizeof(kTimerPrefix) - 1));
        }
        return due.size() < kDueBatch;
      });
  if (!s.ok()) {
    Log(LogLevel::kWarning, "cannot scan three-phase timers", {{"error", s.ToString()}});
    return 0;
  }
  int finished = 0;
  for (const std::string& key : due) {
    std::string txn_id;
    uint32_t branch = 0;
    if (!ParseBarrierKey(key, &txn_id, &branch)) continue;
    auto raw = store_.Get(Space::kBarrier, key);
    BarrierRecord rec;
    if (!raw.ok() || !raw->has_value() || !rec.ParseFromString(**raw)) continue;
    if (rec.state() != storage::BARRIER_PREPARED && rec.state() != storage::BARRIER_PRECOMMITTED) {
      continue;  // Finished meanwhile; its index entry went with the decision.
    }
    absl::Status t = Terminate(txn_id, branch, rec);
    if (t.ok()) ++finished;
  }
  return finished;
}

absl::Status ThreePhaseTimers::Terminate(const std::string& txn_id, uint32_t branch_id,
                                         const BarrierRecord& rec) {
  std::vector<std::optional<BarrierStateRecord>> states;
  for (const auto& peer : rec.peers()) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(PeerDeadline(rec)));
    v1::BranchStateRequest req;
    req.set_txn_id(txn_id);
    req.set_branch_id(peer.branch_id());
    v1::BranchStateResponse resp;
    grpc::Status st = PeerStub(peer.endpoint()).GetBranchState(&ctx, req, &resp);
    // The two enums share their numbers by design; anything unknown counts as "never saw it".
    states.push_back(st.ok() ? std::optional(static_cast<BarrierStateRecord>(resp.state()))
                             : std::nullopt);
  }
  bool commit = TerminationCommits(rec.state(), states);
  for (size_t i = 0; commit && i < states.size(); ++i) {
    if (states[i] != storage::BARRIER_PREPARED) continue;
    // A peer still waiting is precommitted first, so that whoever fails next, every branch
    // left can still see that the transaction was committing.
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(PeerDeadline(rec)));
    v1::PreCommitRequest req;
    req.set_txn_id(txn_id);
    req.set_branch_id(rec.peers(static_cast<int>(i)).branch_id());
    v1::PreCommitResponse resp;
    grpc::Status st = PeerStub(rec.peers(static_cast<int>(i)).endpoint()).PreCommit(&ctx, req,
                                                                                     &resp);
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) commit = false;  // It aborted.
  }
  absl::Status s = decide_(txn_id, branch_id, commit);
  Log(s.ok() ? LogLevel::kInfo : LogLevel::kWarning, "three-phase branch terminated on its timer",
      {{"txn", txn_id},
       {"branch", absl::StrCat(branch_id)},
       {"decision", commit ? "commit" : "abort"},
       {"error", s.ToString()}});
  return s;
}

}  // namespace settle::sdk::internal
