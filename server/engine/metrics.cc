#include "server/engine/metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace settle::engine {
namespace {

// Sub-millisecond to ten seconds: a local commit is ~1 ms, a stuck delivery is seconds.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
  return *b;
}

}  // namespace

std::string StatusCodeName(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));
}

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      transactions_(prometheus::BuildCounter()
                        .Name("settle_transactions_total")
                        .Help("Transactions decided, by mode and outcome.")
                        .Register(*registry_)),
      execute_seconds_(prometheus::BuildHistogram()
                           .Name("settle_execute_duration_seconds")
                           .Help("Execute calls from request to reply, by result.")
                           .Register(*registry_)),
      phase_seconds_(prometheus::BuildHistogram()
                         .Name("settle_phase_duration_seconds")
                         .Help("Duration of each protocol phase.")
                         .Register(*registry_)),
      participant_rpcs_(prometheus::BuildCounter()
                            .Name("settle_participant_rpcs_total")
                            .Help("RPCs to participants, by participant, method and status code.")
                            .Register(*registry_)),
      participant_rpc_seconds_(prometheus::BuildHistogram()
                                   .Name("settle_participant_rpc_duration_seconds")
                                   .Help("Latency of RPCs to participants.")
                                   .Register(*registry_)),
      retries_(prometheus::BuildCounter()
                   .Name("settle_decision_retries_total")
                   .Help("Commit or Abort deliveries retried after a failure.")
                   .Register(*registry_)),
      log_write_seconds_(prometheus::BuildHistogram()
                             .Name("settle_log_write_duration_seconds")
                             .Help("Group writes to the decision log, synced or not.")
                             .Register(*registry_)),
      log_group_size_(prometheus::BuildHistogram()
                          .Name("settle_log_sync_group_size")
                          .Help("Log batches (transaction steps) sharing one synced write.")
                          .Register(*registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       1, 2, 4, 8, 16, 32, 64, 128, 256})),
      recovered_(prometheus::BuildCounter()
                     .Name("settle_recovered_transactions_total")
                     .Help("Active transactions found at start-up, by their logged state.")
                     .Register(*registry_)),
      retention_removed_(prometheus::BuildCounter()
                             .Name("settle_retention_removed_total")
                             .Help("Finished transactions removed from the log past --retention.")
                             .Register(*registry_)
                             .Add({})),
      in_flight_(prometheus::BuildGauge()
                     .Name("settle_transactions_in_flight")
                     .Help("Transactions not yet terminal.")
                     .Register(*registry_)
                     .Add({})),
      in_doubt_(prometheus::BuildGauge()
                    .Name("settle_transactions_in_doubt")
                    .Help("Decided transactions not yet acknowledged by every participant.")
                    .Register(*registry_)
                    .Add({})),
      stuck_(prometheus::BuildGauge()
                 .Name("settle_transactions_stuck")
                 .Help("In-doubt transactions undelivered for longer than --stuck_after.")
                 .Register(*registry_)
                 .Add({})),
      needs_attention_(prometheus::BuildGauge()
                           .Name("settle_transactions_needing_attention")
                           .Help("Sagas parked because a compensation failed for good; an "
                                 "operator must retry or resolve each.")
                           .Register(*registry_)
                           .Add({})),
      participant_failures_(prometheus::BuildGauge()
                                .Name("settle_participant_consecutive_failures")
                                .Help("RPCs to a participant failed in a row (0: healthy).")
                                .Register(*registry_)),
      participant_circuit_open_(
          prometheus::BuildGauge()
              .Name("settle_participant_circuit_open")
              .Help("1 while a participant is taken for down: new payments that need it are "
                    "refused and it is only probed.")
              .Register(*registry_)) {
  // The series dashboards and alerts read exist from the start, at zero, so that rate() and
  // ratios see 0 rather than nothing before the first event.
  for (const char* outcome : {"committed", "aborted"}) {
    for (Mode mode : {Mode::kTwoPhase, Mode::kThreePhase, Mode::kSaga}) {
      TransactionsCounter(mode, outcome);
    }
    ExecuteHistogram(outcome);
  }
  for (const char* phase : {"prepare", "commit", "abort"}) PhaseHistogram(phase);
  for (const char* state : {"preparing", "precommitting", "committing", "aborting", "compensating",
                            "needs_attention"}) {
    recovered_.Add({{"state", state}});
  }
  for (bool synced : {true, false}) LogWriteHistogram(synced);
}

prometheus::Counter& Metrics::TransactionsCounter(Mode mode, const std::string& outcome) {
  return transactions_.Get(absl::StrCat(ModeName(mode), "/", outcome), [&] {
    return prometheus::Labels{{"mode", std::string(ModeName(mode))}, {"outcome", outcome}};
  });
}

prometheus::Histogram& Metrics::ExecuteHistogram(const std::string& result) {
  return execute_seconds_.Get(
      result, [&] { return prometheus::Labels{{"result", result}}; }, LatencyBuckets());
}

prometheus::Histogram& Metrics::PhaseHistogram(const std::string& phase) {
  return phase_seconds_.Get(
      phase, [&] { return prometheus::Labels{{"phase", phase}}; }, LatencyBuckets());
}

prometheus::Histogram& Metrics::LogWriteHistogram(bool synced) {
  const char* label = synced ? "true" : "false";
  return log_write_seconds_.Get(
      label, [&] { return prometheus::Labels{{"synced", label}}; }, LatencyBuckets());
}

void Metrics::Decided(Mode mode, bool committed) {
  TransactionsCounter(mode, committed ? "committed" : "aborted").Increment();
}

void Metrics::ExecuteDone(const std::string& result, absl::Duration d) {
  ExecuteHistogram(result).Observe(absl::ToDoubleSeconds(d));
}

void Metrics::Phase(const std::string& phase, absl::Duration d) {
  PhaseHistogram(phase).Observe(absl::ToDoubleSeconds(d));
}

void Metrics::ParticipantRpc(const std::string& participant, const std::string& method,
                             absl::StatusCode code, absl::Duration d) {
  const std::string key = absl::StrCat(participant, "/", method);
  participant_rpcs_
      .Get(absl::StrCat(key, "/", static_cast<int>(code)),
           [&] {
             return prometheus::Labels{
                 {"participant", participant}, {"method", method}, {"code", StatusCodeName(code)}};
           })
      .Increment();
  participant_rpc_seconds_
      .Get(key,
           [&] { return prometheus::Labels{{"participant", participant}, {"method", method}}; },
           LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(d));
}

void Metrics::DecisionRetry(const std::string& participant, const std::string& method) {
  retries_.Add({{"participant", participant}, {"method", method}}).Increment();
}

void Metrics::LogGroupWrite(const storage::GroupWriteStats& stats) {
  LogWriteHistogram(stats.synced).Observe(absl::ToDoubleSeconds(stats.latency));
  if (stats.synced) log_group_size_.Observe(static_cast<double>(stats.batches));
}

void Metrics::Recovered(const std::string& state) {
  recovered_.Add({{"state", state}}).Increment();
}

void Metrics::RetentionRemoved(int n) { retention_removed_.Increment(n); }

void Metrics::SetParticipantHealth(const std::string& participant, double consecutive_failures,
                                   bool circuit_open) {
  participant_failures_.Add({{"participant", participant}}).Set(consecutive_failures);
  // Each registered participant's retry series exist from the first scrape, at zero, so that
  // rate() reads 0 rather than nothing before the first retry.
  for (const char* method : {"Commit", "Abort"}) {
    retries_.Add({{"participant", participant}, {"method", method}});
  }
  participant_circuit_open_.Add({{"participant", participant}}).Set(circuit_open ? 1 : 0);
}

ExecuteTotals Metrics::ExecuteTotalsNow() const {
  ExecuteTotals t;
  for (const prometheus::MetricFamily& family : execute_seconds_.family().Collect()) {
    for (const prometheus::ClientMetric& m : family.metric) {
      std::string result;
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == "result") result = l.value;
      }
      const uint64_t count = m.histogram.sample_count;
      (result == "committed" ? t.committed : result == "aborted" ? t.aborted : t.failed) += count;
      if (t.cumulative.empty()) {
        for (const auto& b : m.histogram.bucket) t.bounds.push_back(b.upper_bound);
        t.cumulative.assign(m.histogram.bucket.size(), 0);
      }
      for (size_t i = 0; i < m.histogram.bucket.size() && i < t.cumulative.size(); ++i) {
        t.cumulative[i] += m.histogram.bucket[i].cumulative_count;
      }
    }
  }
  return t;
}

void Metrics::SetGauges(double in_flight, double in_doubt, double stuck,
                        double needs_attention) {
  in_flight_.Set(in_flight);
  in_doubt_.Set(in_doubt);
  stuck_.Set(stuck);
  needs_attention_.Set(needs_attention);
}

}  // namespace settle::engine
