#include "messaging/nats_stream.h"

#include "absl/strings/str_cat.h"
#include "messaging/nats_internal.h"

namespace settle::messaging {
namespace {

// A connection and its JetStream context, for one call.
class JetStream {
 public:
  ~JetStream() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
  }
  absl::Status Open(const NatsOptions& options) {
    if (absl::Status s = connection_.Connect(options); !s.ok()) return s;
    if (natsStatus s = natsConnection_JetStream(&js_, connection_.get(), nullptr); s != NATS_OK) {
      return NatsError("JetStream context", s);
    }
    return absl::OkStatus();
  }
  jsCtx* get() const { return js_; }

 private:
  NatsConnection connection_;
  jsCtx* js_ = nullptr;
};

absl::StatusOr<jsStreamInfo*> Info(jsCtx* js, const std::string& stream) {
  jsStreamInfo* si = nullptr;
  jsErrCode code{};
  natsStatus s = js_GetStreamInfo(&si, js, stream.c_str(), nullptr, &code);
  if (code == JSStreamNotFoundErr) return absl::NotFoundError(absl::StrCat("no stream ", stream));
  if (s != NATS_OK) return NatsError("stream info", s, code);
  return si;
}

std::string Header(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  return natsMsgHeader_Get(msg, name, &value) == NATS_OK && value != nullptr ? value : "";
}

}  // namespace

absl::StatusOr<std::vector<NatsRecord>> ReadNatsStream(const NatsOptions& options) {
  JetStream js;
  if (absl::Status s = js.Open(options); !s.ok()) return s;
  auto si = Info(js.get(), options.stream);
  if (!si.ok()) return si.status();
  const uint64_t first = (*si)->State.FirstSeq, last = (*si)->State.LastSeq;
  const uint64_t count = (*si)->State.Msgs;
  jsStreamInfo_Destroy(*si);
  std::vector<NatsRecord> out;
  for (uint64_t seq = first; count > 0 && seq <= last; ++seq) {
    natsMsg* msg = nullptr;
    jsErrCode code{};
    natsStatus s = js_GetMsg(&msg, js.get(), options.stream.c_str(), seq, nullptr, &code);
    if (s == NATS_NOT_FOUND) continue;  // Deleted: a gap in the sequence.
    if (s != NATS_OK) return NatsError(absl::StrCat("reading message ", seq), s, code);
    NatsRecord r;
    r.sequence = seq;
    r.message_id = Header(msg, kMsgIdHeader);
    r.key = Header(msg, kKeyHeader);
    r.content_type = Header(msg, kContentTypeHeader);
    r.body.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<NatsStreamFacts> NatsStreamInfo(const NatsOptions& options) {
  JetStream js;
  if (absl::Status s = js.Open(options); !s.ok()) return s;
  auto si = Info(js.get(), options.stream);
  if (!si.ok()) return si.status();
  NatsStreamFacts facts;
  facts.file_storage = (*si)->Config->Storage == js_FileStorage;
  facts.duplicate_window = absl::Nanoseconds((*si)->Config->Duplicates);
  facts.messages = (*si)->State.Msgs;
  jsStreamInfo_Destroy(*si);
  return facts;
}

absl::Status CreateMemoryNatsStream(const NatsOptions& options) {
  JetStream js;
  if (absl::Status s = js.Open(options); !s.ok()) return s;
  return AddNatsStream(js.get(), options, js_MemoryStorage);
}

}  // namespace settle::messaging
