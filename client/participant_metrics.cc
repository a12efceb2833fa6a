#include "client/participant_metrics.h"

namespace settle::sdk {

ParticipantMetrics::ParticipantMetrics(prometheus::Registry& registry)
    : branches_(prometheus::BuildCounter()
                    .Name("settle_participant_branches_total")
                    .Help("Prepare, Commit and Abort calls by their effect here.")
                    .Register(registry)),
      queries_(prometheus::BuildCounter()
                   .Name("settle_participant_decision_queries_total")
                   .Help("GetDecision calls for in-doubt branches, by answer.")
                   .Register(registry)),
      prepared_(prometheus::BuildGauge()
                    .Name("settle_participant_prepared_branches")
                    .Help("Branches prepared here and waiting for the decision.")
                    .Register(registry)
                    .Add({})),
      barriers_removed_(prometheus::BuildCounter()
                            .Name("settle_participant_barriers_removed_total")
                            .Help("Finished barrier records removed after their retention.")
                            .Register(registry)
                            .Add({})),
      batches_(prometheus::BuildCounter()
                   .Name("settle_participant_batches_total")
                   .Help("Batch calls from the coordinator (the batched channel).")
                   .Register(registry)
                   .Add({})),
      batched_calls_(prometheus::BuildCounter()
                         .Name("settle_participant_batched_calls_total")
                         .Help("Calls that came in Batch calls; over batches, the batch size.")
                         .Register(registry)
                         .Add({})) {
  // Present from the start, at zero, like every bounded series.
  for (const char* answer : {"commit", "abort", "undecided", "error"}) {
    queries_.Add({{"answer", answer}});
  }
}

void ParticipantMetrics::Branch(const std::string& effect) {
  branches_.Add({{"effect", effect}}).Increment();
}

void ParticipantMetrics::DecisionQuery(const std::string& answer) {
  queries_.Add({{"answer", answer}}).Increment();
}

void ParticipantMetrics::SetPrepared(double branches) { prepared_.Set(branches); }

void ParticipantMetrics::BarriersRemoved(int n) { barriers_removed_.Increment(n); }

void ParticipantMetrics::Batch(int calls) {
  batches_.Increment();
  batched_calls_.Increment(calls);
}

}  // namespace settle::sdk
