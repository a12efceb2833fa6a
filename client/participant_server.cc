#include "client/participant_server.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/barrier.h"
#include "client/participant_service.h"
#include "client/three_phase.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "storage/records.pb.h"
#include "storage/txn_id.h"

namespace settle::sdk {
namespace {

using internal::ReadBarrier;
using internal::UnitResult;
using storage::BarrierRecord;
using storage::Space;
using storage::WorkView;

// The barrier sweep removes at most this many records per write; the next batch follows
// shortly after, so Prepares and Commits queued on the writer meanwhile are not held up.
constexpr int kSweepBatch = 1000;
constexpr absl::Duration kSweepBatchGap = absl::Milliseconds(5);

bool Finished(const BarrierRecord& rec) {
  return rec.state() == storage::BARRIER_COMMITTED || rec.state() == storage::BARRIER_ABORTED;
}

}  // namespace

std::string BarrierKey(const std::string& txn_id, uint32_t branch_id) {
  return absl::StrFormat("%s/%05u", txn_id, branch_id);
}

ParticipantServer::ParticipantServer(ParticipantOptions options, storage::BranchStore& store,
                                     BranchHandler& handler)
    : options_(std::move(options)),
      store_(store),
      handler_(handler),
      participant_impl_(std::make_unique<internal::ParticipantService>(
          store, handler, options_.metrics, options_.saga, options_.name, options_.clock)),
      inspect_impl_(internal::MakeInspectService(store)),
      credentials_(ChannelCredentials(options_.tls)),
      timers_(std::make_unique<internal::ThreePhaseTimers>(
          store,
          [this](const std::string& txn_id, uint32_t branch, bool commit) {
            return Decide(txn_id, branch, commit);
          },
          credentials_)) {
  if (options_.decisions == nullptr && !options_.coordinator_endpoint.empty()) {
    // ParticipantOptions documents the endpoints' form; a bad one leaves the resolver without
    // a coordinator, which the log says once.
    auto source = MakeGrpcDecisionSource(options_.coordinator_endpoint, credentials_);
    if (source.ok()) {
      own_decisions_ = *std::move(source);
    } else {
      Log(LogLevel::kError, "in-doubt branches will not be resolved",
          {{"error", source.status().ToString()}});
    }
  }
  decisions_ = options_.decisions != nullptr ? options_.decisions : own_decisions_.get();
}

ParticipantServer::~ParticipantServer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (background_.joinable()) background_.join();
}

grpc::Service* ParticipantServer::participant_service() { return participant_impl_.get(); }
grpc::Service* ParticipantServer::inspect_service() { return inspect_impl_.get(); }

void ParticipantServer::ServeCall(const std::string& method, const std::string& request,
                                  std::function<void(absl::Status, std::string)> done) {
  participant_impl_->ServeCall(method, request, std::move(done));
}

void ParticipantServer::StartBackgroundWork() {
  background_ = std::thread([this] { BackgroundLoop(); });
}

int ParticipantServer::TerminateDueOnce(absl::Time now) { return timers_->RunDue(now); }

void ParticipantServer::BackgroundLoop() {
  absl::Time next_resolve = absl::Now() + options_.in_doubt_check_interval;
  absl::Time next_sweep = absl::Now() + options_.barrier_sweep_interval;
  absl::Time next_timers = absl::Now() + options_.three_phase_check_interval;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      absl::Time wake = std::min(next_sweep, next_timers);
      if (decisions_ != nullptr) wake = std::min(wake, next_resolve);
      mu_.AwaitWithDeadline(absl::Condition(&stop_), wake);
      if (stop_) return;
    }
    if (absl::Now() >= next_timers) {
      TerminateDueOnce(options_.clock());
      next_timers = absl::Now() + options_.three_phase_check_interval;
    }
    if (decisions_ != nullptr && absl::Now() >= next_resolve) {
      ResolveInDoubtOnce(options_.clock());
      next_resolve = absl::Now() + options_.in_doubt_check_interval;
    }
    if (absl::Now() >= next_sweep) {
      auto removed = SweepBarriersOnce(options_.clock(), kSweepBatch);
      if (!removed.ok()) {
        Log(LogLevel::kWarning, "barrier sweep failed", {{"error", removed.status().ToString()}});
      }
      // A full batch means more are due: the next follows after a short gap.
      const bool more = removed.ok() && *removed == kSweepBatch;
      next_sweep = absl::Now() + (more ? kSweepBatchGap : options_.barrier_sweep_interval);
    }
  }
}

absl::StatusOr<int> ParticipantServer::SweepBarriersOnce(absl::Time now, int max) {
  const int64_t cutoff = absl::ToUnixMicros(now - options_.barrier_retention);
  auto due = store_.FinishedBarriers(now - options_.barrier_retention, max);
  if (!due.ok()) return due.status();
  if (due->empty()) return 0;
  int removed = 0;
  absl::Status w = store_.SubmitAndWait([&](WorkView& view) {
    // Checked again on the writer: only what is still finished and old goes.
    removed = 0;
    for (const std::string& key : *due) {
      auto rec = ReadBarrier(view, key);
      if (!rec.ok() || !rec->has_value() || !Finished(**rec) || (*rec)->update_micros() >= cutoff) {
        continue;
      }
      view.Delete(Space::kBarrier, key);
      ++removed;
    }
    return removed > 0;
  });
  if (!w.ok()) return w;
  if (options_.metrics != nullptr && removed > 0) options_.metrics->BarriersRemoved(removed);
  return removed;
}

absl::Status ParticipantServer::Decide(const std::string& txn_id, uint32_t branch, bool commit) {
  UnitResult result;
  absl::Status w = store_.SubmitAndWait([&](WorkView& v) {
    result = UnitResult();  // A SQL store may run the unit again: each run starts afresh.
    return internal::DecideWork(handler_, txn_id, branch, commit, options_.clock(), v, result);
  });
  if (w.ok()) w = result.error;
  if (w.ok() && options_.metrics != nullptr) options_.metrics->Branch(result.effect);
  return w;
}

int ParticipantServer::ResolveInDoubtOnce(absl::Time now) {
  if (decisions_ == nullptr) return 0;
  const int64_t cutoff = absl::ToUnixMicros(now - options_.in_doubt_after);
  std::vector<std::string> in_doubt;
  int prepared_total = 0;
  absl::Status s = store_.Scan(
      Space::kMeta, internal::kPreparedPrefix, "",
      [&](const std::string& key, const std::string& value) {
        ++prepared_total;
        int64_t prepared = 0;
        if (absl::SimpleAtoi(value, &prepared) && prepared < cutoff && in_doubt.size() < 1000) {
          in_doubt.push_back(key.substr(sizeof(internal::kPreparedPrefix) - 1));
        }
        return true;
      });
  if (options_.metrics != nullptr) options_.metrics->SetPrepared(prepared_total);
  if (!s.ok()) {
    Log(LogLevel::kWarning, "cannot scan prepared branches", {{"error", s.ToString()}});
    return 0;
  }
  int resolved = 0;
  for (const std::string& key : in_doubt) {
    std::string txn_id;
    uint32_t branch = 0;
    if (!internal::ParseBarrierKey(key, &txn_id, &branch)) continue;
    const auto decision = decisions_->GetDecision(txn_id);
    if (options_.metrics != nullptr) {
      options_.metrics->DecisionQuery(!decision.ok()                                   ? "error"
                                      : *decision == DecisionSource::Decision::kCommit ? "commit"
                                      : *decision == DecisionSource::Decision::kUndecided
                                          ? "undecided"
                                          : "abort");
    }
    if (!decision.ok() || *decision == DecisionSource::Decision::kUndecided) continue;
    const bool commit = *decision == DecisionSource::Decision::kCommit;
    const absl::Status w = Decide(txn_id, branch, commit);
    Log(w.ok() ? LogLevel::kInfo : LogLevel::kWarning, "in-doubt branch resolved",
        {{"txn", txn_id},
         {"branch", absl::StrCat(branch)},
         {"decision", commit ? "commit" : "abort"},
         {"error", w.ToString()}});
    if (w.ok()) ++resolved;
  }
  return resolved;
}

}  // namespace settle::sdk
