// notification: a transactional outbox. Prepare stores the message as pending; Commit makes it
// ready, in commit order, for the broker relay; Abort drops it. A pending message is never sent.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "participants/reference.h"
#include "proto/status_mapping.h"
#include "settle/v1/reference.grpc.pb.h"

namespace settle::participants {
namespace {

using storage::Space;

constexpr char kMessagePrefix[] = "msg/";
constexpr char kOutboxPrefix[] = "outbox/";  // Ready messages by sequence: the relay's queue.
constexpr size_t kMaxBody = 16 * 1024;

std::string MessageKey(const sdk::BranchContext& ctx) {
  return kMessagePrefix + sdk::BarrierKey(ctx.txn_id, ctx.branch_id);
}

class NotificationHandler final : public sdk::BranchHandler {
 public:
  sdk::Vote Prepare(const sdk::BranchContext& ctx, const std::string& payload,
                    storage::WorkView& view) override {
    v1::NotificationPayload p;
    if (!p.ParseFromString(payload)) return sdk::Vote::No("payload is not a NotificationPayload");
    if (p.recipient().empty() || p.topic().empty()) {
      return sdk::Vote::No("a notification needs a recipient and a topic");
    }
    if (p.body().size() > kMaxBody) {
      return sdk::Vote::No(absl::StrCat("body is ", p.body().size(), " bytes; the limit is ",
                                        kMaxBody));
    }
    v1::OutboxMessage m;
    m.set_txn_id(ctx.txn_id);
    m.set_branch_id(ctx.branch_id);
    m.set_state(v1::MESSAGE_STATE_PENDING);
    m.set_recipient(p.recipient());
    m.set_topic(p.topic());
    m.set_body(p.body());
    view.Put(Space::kData, MessageKey(ctx), m.SerializeAsString());
    return sdk::Vote::Yes();
  }

  absl::Status Commit(const sdk::BranchContext& ctx, const std::string&,
                      storage::WorkView& view) override {
    auto raw = view.Get(Space::kData, MessageKey(ctx));
    if (!raw.ok()) return raw.status();
    v1::OutboxMessage m;
    if (!raw->has_value() || !m.ParseFromString(**raw)) {
      return absl::DataLossError(absl::StrCat("prepared message ", MessageKey(ctx), " is missing"));
    }
    auto seq = NextSequence(view, "outbox_seq");
    if (!seq.ok()) return seq.status();
    m.set_state(v1::MESSAGE_STATE_READY);
    m.set_outbox_sequence(*seq);
    m.set_ready_micros(absl::ToUnixMicros(absl::Now()));
    view.Put(Space::kData, MessageKey(ctx), m.SerializeAsString());
    view.Put(Space::kData, absl::StrFormat("%s%020u", kOutboxPrefix, *seq), MessageKey(ctx));
    return absl::OkStatus();
  }

  absl::Status Abort(const sdk::BranchContext& ctx, const std::string&,
                     storage::WorkView& view) override {
    view.Delete(Space::kData, MessageKey(ctx));
    return absl::OkStatus();
  }
};

class NotificationAdmin final : public v1::NotificationAdmin::CallbackService {
 public:
  explicit NotificationAdmin(storage::BranchStore& store) : store_(store) {}

  grpc::ServerUnaryReactor* ListMessages(grpc::CallbackServerContext* context,
                                         const v1::ListMessagesRequest* request,
                                         v1::ListMessagesResponse* response) override {
    auto* reactor = context->DefaultReactor();
    auto next = ScanPage(store_, kMessagePrefix, request->page_token(), request->page_size(),
                         [response](const std::string& value) {
                           response->add_messages()->ParseFromString(value);
                         });
    if (next.ok()) response->set_next_page_token(*next);
    reactor->Finish(ToGrpcStatus(next.status()));
    return reactor;
  }

 private:
  storage::BranchStore& store_;
};

}  // namespace

// A saga's compensation: a message was sent, so a second one says it no longer holds.
absl::StatusOr<std::string> ReverseNotification(const std::string& payload) {
  v1::NotificationPayload p;
  if (!p.ParseFromString(payload)) {
    return absl::InvalidArgumentError("payload is not a NotificationPayload");
  }
  p.set_topic(absl::StrCat(p.topic(), ".reversed"));
  return p.SerializeAsString();
}

ReferenceParticipant MakeNotification(storage::BranchStore& store) {
  auto handler = std::make_unique<NotificationHandler>();
  auto saga = std::make_unique<sdk::ReversibleSaga>(*handler, ReverseNotification);
  return {std::move(handler), std::make_unique<NotificationAdmin>(store), std::move(saga)};
}

}  // namespace settle::participants
