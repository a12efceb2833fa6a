#include "server/engine/modes.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/engine/saga.h"
#include "server/engine/three_phase.h"
#include "server/engine/two_phase.h"

namespace settle::engine {
namespace {

// Modes whose branches all run at once: every branch is step 0.
absl::Status CheckSingleStep(Mode mode, const std::vector<BranchSpec>& branches) {
  uint32_t last = 0;
  for (const BranchSpec& b : branches) last = std::max(last, b.step);
  if (last == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "branches carry steps (up to ", last, "), which only MODE_SAGA orders; leave step 0 for ",
      ModeName(mode)));
}

const ModeRules kTwoPhase{
    CheckSingleStep, /*branches_call_each_other=*/false,
    [](storage::TxnRecord r, const ProtocolOptions&) -> std::unique_ptr<Protocol> {
      return std::make_unique<TwoPhase>(std::move(r));
    }};
const ModeRules kSaga{
    Saga::CheckSteps, /*branches_call_each_other=*/false,
    [](storage::TxnRecord r, const ProtocolOptions& o) -> std::unique_ptr<Protocol> {
      return std::make_unique<Saga>(std::move(r), o);
    }};
const ModeRules kThreePhase{
    CheckSingleStep, /*branches_call_each_other=*/true,
    [](storage::TxnRecord r, const ProtocolOptions& o) -> std::unique_ptr<Protocol> {
      return std::make_unique<ThreePhase>(std::move(r), o);
    }};

}  // namespace

const ModeRules& RulesFor(Mode mode) {
  switch (mode) {
    case Mode::kTwoPhase: return kTwoPhase;
    case Mode::kSaga: return kSaga;
    case Mode::kThreePhase: return kThreePhase;
  }
  return kTwoPhase;  // Unreachable: every Mode has a row.
}

absl::StatusOr<std::unique_ptr<Protocol>> MakeProtocol(storage::TxnRecord record,
                                                       const ProtocolOptions& options) {
  const std::optional<Mode> mode = ModeFromRecord(record.mode());
  if (!mode.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("transaction ", record.txn_id(), " has mode ",
                                                   record.mode(),
                                                   ", which this coordinator does not run"));
  }
  return RulesFor(*mode).make(std::move(record), options);
}

}  // namespace settle::engine
