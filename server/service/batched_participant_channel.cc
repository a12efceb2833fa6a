#include "server/service/batched_participant_channel.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/status_mapping.h"
#include "proto/unary_call.h"

namespace settle {

using Batch = UnaryCall<v1::ParticipantBatch, v1::ParticipantBatchReply>;

GrpcBatchLink::GrpcBatchLink(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::Participant::NewStub(std::move(channel))) {}

void GrpcBatchLink::Call(const char* method, std::string request, absl::Time deadline, Done done) {
  Pending p;
  p.call.set_method(method);
  p.call.set_request(std::move(request));
  // No absolute deadline in the call: the batch's gRPC deadline travels as a timeout, which a
  // participant's clock skew cannot shorten.
  p.deadline = deadline;
  p.done = std::move(done);
  {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(p));
  }
  Pump(/*one_finished=*/false);
}

void GrpcBatchLink::Pump(bool one_finished) {
  std::vector<std::shared_ptr<std::vector<Pending>>> batches;
  std::vector<Pending> expired;
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (one_finished) --in_flight_;
    while (in_flight_ < kMaxInFlight && !queue_.empty()) {
      auto batch = std::make_shared<std::vector<Pending>>();
      size_t bytes = 0;
      while (!queue_.empty() && batch->size() < static_cast<size_t>(kMaxCalls)) {
        Pending& next = queue_.front();
        const size_t size = next.call.request().size();
        if (!batch->empty() && bytes + size > kMaxBytes) break;
        // Its caller has stopped waiting: sending it would only add work at the participant.
        (next.deadline <= now ? expired : *batch).push_back(std::move(next));
        queue_.pop_front();
        bytes += size;
      }
      if (batch->empty()) continue;
      ++in_flight_;
      batches.push_back(std::move(batch));
    }
  }
  for (Pending& p : expired) {
    p.done(absl::DeadlineExceededError(
        absl::StrCat(p.call.method(), " waited for a batch past its deadline; it was not sent")));
  }
  for (auto& batch : batches) Send(std::move(batch));
}

void GrpcBatchLink::Send(std::shared_ptr<std::vector<Pending>> batch) {
  auto call = std::make_shared<Batch>();
  absl::Time deadline = absl::InfiniteFuture();
  call->request.mutable_calls()->Reserve(static_cast<int>(batch->size()));
  for (Pending& p : *batch) {
    deadline = std::min(deadline, p.deadline);
    *call->request.add_calls() = std::move(p.call);
  }
  auto* async = stub_->async();
  StartUnaryCall<v1::ParticipantBatch, v1::ParticipantBatchReply>(
      [async](auto... args) { async->Batch(args...); }, deadline, std::move(call),
      [self = shared_from_this(), batch = std::move(batch)](
          const grpc::Status& s, const v1::ParticipantBatchReply& reply) {
        self->Answered(s, reply, *batch);
      });
}

void GrpcBatchLink::Answered(const grpc::Status& status, const v1::ParticipantBatchReply& reply,
                             std::vector<Pending>& batch) {
  // The next batch leaves before this one's answers are handed on.
  Pump(/*one_finished=*/true);
  absl::Status whole = FromGrpcStatus(status);
  if (whole.code() == absl::StatusCode::kUnimplemented) {
    // The participant was replaced by one that does not serve batches: these calls did not
    // run there (never a vote; the engine retries or aborts) and the next go unary.
    Learned(Served::kNo, absl::Now());
    whole =
        absl::UnavailableError(absl::StrCat("the participant stopped serving Batch (",
                                            whole.message(), "); its calls go unary from now on"));
  } else if (whole.ok() && reply.replies_size() != static_cast<int>(batch.size())) {
    whole = absl::UnknownError(absl::StrCat("the participant answered ", reply.replies_size(),
                                            " of a batch's ", batch.size(), " calls"));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!whole.ok()) {
      batch[i].done(whole);
      continue;
    }
    const v1::ParticipantReply& r = reply.replies(static_cast<int>(i));
    if (r.code() == 0) {
      batch[i].done(r.response());
    } else {
      batch[i].done(absl::Status(static_cast<absl::StatusCode>(r.code()), r.message()));
    }
  }
}

bool GrpcBatchLink::ServesBatches(absl::Time now) {
  {
    absl::MutexLock lock(&mu_);
    if (served_ == Served::kYes) return true;
    if (served_ == Served::kProbing || now < probe_after_) return false;
    served_ = Served::kProbing;
  }
  Probe();
  return false;
}

void GrpcBatchLink::Probe() {
  auto call = std::make_shared<Batch>();
  auto* async = stub_->async();
  StartUnaryCall<v1::ParticipantBatch, v1::ParticipantBatchReply>(
      [async](auto... args) { async->Batch(args...); }, absl::Now() + absl::Seconds(5),
      std::move(call),
      [self = shared_from_this()](const grpc::Status& s, const v1::ParticipantBatchReply&) {
        switch (s.error_code()) {
          case grpc::StatusCode::OK:
            return self->Learned(Served::kYes, absl::Now());
          case grpc::StatusCode::UNIMPLEMENTED:
            return self->Learned(Served::kNo, absl::Now());
          default:  // Not reached, or not up yet: the next call asks again.
            return self->Learned(Served::kUnknown, absl::Now());
        }
      });
}

void GrpcBatchLink::Learned(Served served, absl::Time now) {
  absl::MutexLock lock(&mu_);
  served_ = served;
  probe_after_ = served == Served::kNo ? now + kProbeAgainAfter : absl::InfinitePast();
}

BatchedParticipantChannel::BatchedParticipantChannel(std::shared_ptr<grpc::Channel> channel)
    : unary_(channel),
      link_(std::make_shared<GrpcBatchLink>(channel)),
      batched_(link_, /*callable_by_peers=*/true) {}

engine::ParticipantChannel& BatchedParticipantChannel::Pick() {
  if (link_->ServesBatches(absl::Now())) return batched_;
  return unary_;
}

}  // namespace settle
