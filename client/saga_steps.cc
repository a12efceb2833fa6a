#include "client/saga_steps.h"

#include <utility>

namespace settle::sdk::internal {

using storage::BarrierRecord;

namespace {

// Runs `step` on a staging view: its writes are kept unless it refused.
StepOutcome Staged(storage::WorkView& view,
                   const std::function<StepOutcome(storage::WorkView&)>& step) {
  StagingView staging(view);
  StepOutcome outcome = step(staging);
  if (outcome.kind != StepOutcome::Kind::kRefused) {
    staging.Apply();
  } else {
    staging.Discard();
  }
  return outcome;
}

}  // namespace

bool ActWork(SagaHandler& handler, const std::string& txn_id, uint32_t branch_id,
             const std::string& payload, absl::Time now, storage::WorkView& view, UnitResult& out) {
  const std::string key = BarrierKey(txn_id, branch_id);
  std::optional<BarrierRecord> barrier;
  if (!ReadBarrierFor(view, key, &barrier, out)) return false;
  if (barrier.has_value()) {
    switch (barrier->state()) {
      case storage::BARRIER_COMMITTED:
        out.step = StepOutcome::Done();  // A duplicate: one effect only.
        return false;
      case storage::BARRIER_PREPARED:
        break;  // In progress: the handler looks at its pending work again.
      default:
        out.step = StepOutcome::Refused(barrier->tombstone()
                                            ? "compensated before this action arrived"
                                            : "refused or compensated already");
        return false;
    }
  }
  out.step = Staged(view, [&](storage::WorkView& v) {
    return handler.Act({txn_id, branch_id}, payload, v);
  });
  BarrierRecord rec;
  switch (out.step.kind) {
    case StepOutcome::Kind::kDone:
      rec.set_state(storage::BARRIER_COMMITTED);
      out.effect = "acted";
      break;
    case StepOutcome::Kind::kInProgress:
      rec.set_state(storage::BARRIER_PREPARED);
      out.effect = "in_progress";
      break;
    case StepOutcome::Kind::kRefused:
      rec.set_state(storage::BARRIER_ABORTED);
      out.effect = "refused";
      break;
  }
  WriteBarrier(view, key, std::move(rec), now);
  return true;
}

bool CompensateWork(SagaHandler& handler, const std::string& txn_id, uint32_t branch_id,
                    const std::string& payload, absl::Time now, storage::WorkView& view,
                    UnitResult& out) {
  const std::string key = BarrierKey(txn_id, branch_id);
  std::optional<BarrierRecord> barrier;
  if (!ReadBarrierFor(view, key, &barrier, out)) return false;
  if (!barrier.has_value()) {
    // Before its action: nothing to undo, and the action must never run now.
    WriteTombstone(view, key, now, out);
    out.step = StepOutcome::Done();
    return true;
  }
  if (barrier->state() == storage::BARRIER_ABORTED) {
    out.step = StepOutcome::Done();  // Refused, compensated, or a tombstone: nothing to undo.
    return false;
  }
  out.step = Staged(view, [&](storage::WorkView& v) {
    return handler.Compensate({txn_id, branch_id}, payload, v);
  });
  BarrierRecord rec = std::move(*barrier);
  switch (out.step.kind) {
    case StepOutcome::Kind::kDone:
      rec.set_state(storage::BARRIER_ABORTED);
      out.effect = "compensated";
      break;
    case StepOutcome::Kind::kInProgress:
      rec.set_state(storage::BARRIER_COMPENSATING);
      out.effect = "in_progress";
      break;
    case StepOutcome::Kind::kRefused:
      out.effect = "refused";
      return false;  // Unchanged: the saga parks, and an operator may retry.
  }
  WriteBarrier(view, key, std::move(rec), now);
  return true;
}

void ToStepResponse(const StepOutcome& step, v1::StepResponse* response) {
  switch (step.kind) {
    case StepOutcome::Kind::kDone:
      response->set_outcome(v1::STEP_DONE);
      break;
    case StepOutcome::Kind::kInProgress:
      response->set_outcome(v1::STEP_IN_PROGRESS);
      break;
    case StepOutcome::Kind::kRefused:
      response->set_outcome(v1::STEP_REFUSED);
      response->set_reason(step.reason);
      break;
  }
}

}  // namespace settle::sdk::internal
