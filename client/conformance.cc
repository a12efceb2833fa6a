#include "client/conformance.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "client/conformance_kit.h"

namespace settle::conformance {
namespace internal {

Kit::Branch Kit::NewBranch() {
  return {absl::StrFormat("%s-%016x", options_.shard, base_ + next_.fetch_add(1)),
          static_cast<uint32_t>(next_.load() % 8)};
}

std::unique_ptr<grpc::ClientContext> Kit::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
  return ctx;
}

v1::PrepareRequest Kit::PrepareRequestFor(const Branch& b, absl::Duration deadline_in) const {
  v1::PrepareRequest req;
  req.set_txn_id(b.txn_id);
  req.set_branch_id(b.branch_id);
  req.set_participant(options_.participant_name);
  req.set_payload(options_.payload);
  ToProtoTime(absl::Now() + deadline_in, req.mutable_deadline());
  return req;
}

grpc::Status Kit::Prepare(const Branch& b, v1::PrepareResponse* out, absl::Duration deadline_in,
                          bool three_phase) {
  v1::PrepareRequest req = PrepareRequestFor(b, deadline_in);
  if (three_phase) req.mutable_three_phase()->mutable_timeout()->set_seconds(60);
  return stub_.Prepare(Context().get(), req, out);
}

grpc::Status Kit::Decide(const Branch& b, bool commit) {
  v1::CommitRequest req;
  req.set_txn_id(b.txn_id);
  req.set_branch_id(b.branch_id);
  if (commit) {
    v1::CommitResponse resp;
    return stub_.Commit(Context().get(), req, &resp);
  }
  v1::AbortRequest abort;
  abort.set_txn_id(b.txn_id);
  abort.set_branch_id(b.branch_id);
  v1::AbortResponse resp;
  return stub_.Abort(Context().get(), abort, &resp);
}

grpc::Status Kit::Step(const Branch& b, bool compensate, v1::StepResponse* out) {
  v1::StepRequest req;
  req.set_txn_id(b.txn_id);
  req.set_branch_id(b.branch_id);
  req.set_participant(options_.participant_name);
  req.set_payload(options_.payload);
  ToProtoTime(absl::Now() + absl::Seconds(60), req.mutable_deadline());
  return compensate ? stub_.Compensate(Context().get(), req, out)
                    : stub_.Act(Context().get(), req, out);
}

grpc::Status Kit::PreCommit(const Branch& b) {
  v1::PreCommitRequest req;
  req.set_txn_id(b.txn_id);
  req.set_branch_id(b.branch_id);
  v1::PreCommitResponse resp;
  return stub_.PreCommit(Context().get(), req, &resp);
}

std::string Kit::WantState(const Branch& b, v1::BarrierState want, const std::string& when) {
  v1::BranchStateRequest req;
  req.set_txn_id(b.txn_id);
  req.set_branch_id(b.branch_id);
  v1::BranchStateResponse resp;
  grpc::Status s = stub_.GetBranchState(Context().get(), req, &resp);
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) return "";
  KIT_CHECK(Want(s, grpc::StatusCode::OK, "GetBranchState " + when));
  if (resp.state() != want) {
    return absl::StrCat("state ", when, ": want ", v1::BarrierState_Name(want), ", got ",
                        v1::BarrierState_Name(resp.state()));
  }
  return "";
}

std::string Kit::Storm(const std::function<std::string()>& call) {
  absl::Mutex mu;
  std::string first;
  std::vector<std::thread> threads;
  for (int i = 0; i < options_.storm; ++i) {
    threads.emplace_back([&] {
      std::string e = call();
      absl::MutexLock lock(&mu);
      if (first.empty()) first = e;
    });
  }
  for (auto& t : threads) t.join();
  return first;
}

void Kit::Case(const std::string& name, const std::function<std::string()>& body) {
  CaseResult r{name, CaseResult::Verdict::kPass, body()};
  if (absl::StartsWith(r.detail, kSkip)) {
    r.verdict = CaseResult::Verdict::kSkip;
    r.detail = r.detail.substr(sizeof(kSkip) - 1);
  } else if (!r.detail.empty()) {
    r.verdict = CaseResult::Verdict::kFail;
  }
  report_.cases.push_back(std::move(r));
}

KitReport Kit::Run() {
  TwoPhaseCases();
  SagaCases();
  ThreePhaseCases();
  MalformedCases();
  StormCases();
  BatchCases();
  return std::move(report_);
}

}  // namespace internal
bool KitReport::passed() const {
  for (const CaseResult& c : cases) {
    if (c.verdict == CaseResult::Verdict::kFail) return false;
  }
  return !cases.empty();
}

KitReport RunKit(v1::Participant::StubInterface& stub, const KitOptions& options) {
  return internal::Kit(stub, options).Run();
}

std::string FormatReport(const KitReport& report) {
  size_t width = 4;
  for (const CaseResult& c : report.cases) width = std::max(width, c.name.size());
  std::string out = absl::StrFormat("%-*s  %-6s  %s\n", width, "case", "result", "detail");
  int pass = 0, fail = 0, skip = 0;
  for (const CaseResult& c : report.cases) {
    const char* v = c.verdict == CaseResult::Verdict::kPass   ? (++pass, "PASS")
                    : c.verdict == CaseResult::Verdict::kFail ? (++fail, "FAIL")
                                                              : (++skip, "SKIP");
    absl::StrAppendFormat(&out, "%-*s  %-6s  %s\n", width, c.name, v, c.detail);
  }
  absl::StrAppendFormat(&out, "PASS %d, FAIL %d, SKIP %d of %d cases\n", pass, fail, skip,
                        pass + fail + skip);
  return out;
}

}  // namespace settle::conformance
