#ifndef SETTLE_CLIENT_CONFORMANCE_H_
#define SETTLE_CLIENT_CONFORMANCE_H_

// The participant contract kit: drives any participant, in any language, through the result
// contract of participant.proto and says, case by case, whether it keeps it. settle-conformance
// (conformance_main.cc) runs it from the command line.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "settle/v1/participant.grpc.pb.h"

namespace settle::conformance {

struct KitOptions {
  // The name the participant is registered under (sent in Prepare, Act and Compensate).
  std::string participant_name;
  // The test hook: a payload the participant votes YES for (and acts on) every time it is sent,
  // e.g. a credit of 1 to an account kept for the kit. Each branch the kit commits applies it
  // once; each it aborts, refuses or compensates leaves no effect.
  std::string payload;
  // The shard of the transaction ids the kit makes up ("kit-<16 hex>"): ids no coordinator
  // issued, so that no real transaction is touched.
  std::string shard = "kit";
  // Concurrent duplicates in the storm cases.
  int storm = 16;
  absl::Duration call_timeout = absl::Seconds(10);
};

struct CaseResult {
  enum class Verdict { kPass, kFail, kSkip };
  std::string name;
  Verdict verdict = Verdict::kPass;
  std::string detail;  // Why it failed or was skipped.
};

struct KitReport {
  std::vector<CaseResult> cases;
  // How many times the payload's effect must have been applied, net, if the participant kept the
  // contract: committed branches and saga actions done, less compensations done. A caller that
  // can read the effect (an account's balance) compares.
  int64_t expected_effects = 0;
  bool passed() const;
};

// Runs every case against `stub` (thread-safe; the storm cases call it from several threads).
// Saga and three-phase cases are skipped, saying so, where the participant answers UNIMPLEMENTED.
KitReport RunKit(v1::Participant::StubInterface& stub, const KitOptions& options);

// The report as a table, one row per case, for a person.
std::string FormatReport(const KitReport& report);

}  // namespace settle::conformance

#endif  // SETTLE_CLIENT_CONFORMANCE_H_
