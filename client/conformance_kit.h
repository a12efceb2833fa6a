#ifndef SETTLE_CLIENT_CONFORMANCE_KIT_H_
#define SETTLE_CLIENT_CONFORMANCE_KIT_H_

// Internal to the contract kit (conformance.h): the driver the cases run on, and the checks they
// share. conformance.cc has the driver, conformance_cases.cc the cases.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/conformance.h"
#include "grpcpp/client_context.h"
#include "proto/time_convert.h"

namespace settle::conformance::internal {

// A case's checks stop at the first that fails, whose description is the case's detail.
#define KIT_CHECK(expr)                       \
  do {                                        \
    if (std::string e = (expr); !e.empty()) { \
      return e;                               \
    }                                         \
  } while (0)

inline constexpr char kSkip[] = "SKIP: ";

inline std::string Describe(const grpc::Status& s) {
  const std::string code = absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code()));
  return s.ok() ? code : absl::StrCat(code, " \"", s.error_message().substr(0, 160), "\"");
}

inline std::string Want(const grpc::Status& got, grpc::StatusCode want, const std::string& what) {
  if (got.error_code() == want) return "";
  return absl::StrCat(what, ": want ",
                      absl::StatusCodeToString(static_cast<absl::StatusCode>(want)), ", got ",
                      Describe(got));
}

// INVALID_ARGUMENT whose message names `field`, as the contract asks of a malformed request.
inline std::string WantNamed(const grpc::Status& got, const std::string& field,
                             const std::string& what) {
  KIT_CHECK(Want(got, grpc::StatusCode::INVALID_ARGUMENT, what));
  if (!absl::StrContains(got.error_message(), field)) {
    return absl::StrCat(what, ": the message does not name ", field, ": ", Describe(got));
  }
  return "";
}

inline std::string WantVote(const grpc::Status& got, const v1::PrepareResponse& r, bool yes,
                            const std::string& what) {
  KIT_CHECK(Want(got, grpc::StatusCode::OK, what));
  if ((r.vote() == v1::VOTE_YES) != yes) {
    return absl::StrCat(what, ": want ", yes ? "VOTE_YES" : "VOTE_NO", ", got ",
                        v1::Vote_Name(r.vote()), " \"", r.reason(), "\"");
  }
  return "";
}

inline std::string WantStep(const grpc::Status& got, const v1::StepResponse& r,
                            v1::StepOutcome want, const std::string& what) {
  KIT_CHECK(Want(got, grpc::StatusCode::OK, what));
  if (r.outcome() != want) {
    return absl::StrCat(what, ": want ", v1::StepOutcome_Name(want), ", got ",
                        v1::StepOutcome_Name(r.outcome()), " \"", r.reason(), "\"");
  }
  return "";
}

// Runs the cases against one participant and collects their results. Not thread-safe (the storm
// cases' threads only call the stub and Storm's own collector).
class Kit final {
 public:
  Kit(v1::Participant::StubInterface& stub, const KitOptions& options)
      : stub_(stub), options_(options), base_(absl::ToUnixMicros(absl::Now())) {}

  KitReport Run();

 private:
  struct Branch {
    std::string txn_id;
    uint32_t branch_id = 0;
  };

  Branch NewBranch();
  std::unique_ptr<grpc::ClientContext> Context() const;
  // A Prepare of `b` with the kit's payload and name, its deadline `deadline_in` from now.
  v1::PrepareRequest PrepareRequestFor(const Branch& b, absl::Duration deadline_in) const;
  // The calls, with the kit's payload and name; a Prepare's deadline `deadline_in` from now.
  grpc::Status Prepare(const Branch& b, v1::PrepareResponse* out,
                       absl::Duration deadline_in = absl::Seconds(60), bool three_phase = false);
  grpc::Status Decide(const Branch& b, bool commit);
  grpc::Status Step(const Branch& b, bool compensate, v1::StepResponse* out);
  grpc::Status PreCommit(const Branch& b);
  // The branch's state by GetBranchState: "" when it is `want` (or the participant offers no
  // GetBranchState: nothing to compare).
  std::string WantState(const Branch& b, v1::BarrierState want, const std::string& when);
  // Runs `call` from `options_.storm` threads at once; the first failure it reports.
  std::string Storm(const std::function<std::string()>& call);
  // Records one case: `body` returns "" (passed), kSkip and why, or why it failed.
  void Case(const std::string& name, const std::function<std::string()>& body);

  void TwoPhaseCases();
  void SagaCases();
  void ThreePhaseCases();
  void MalformedCases();
  void StormCases();
  void BatchCases();

  v1::Participant::StubInterface& stub_;
  const KitOptions& options_;
  const int64_t base_;
  std::atomic<int64_t> next_{0};
  bool saga_ = true, three_phase_ = true;
  KitReport report_;
};

}  // namespace settle::conformance::internal

#endif  // SETTLE_CLIENT_CONFORMANCE_KIT_H_
