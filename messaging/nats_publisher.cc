#include "messaging/nats_publisher.h"

#include <nats/nats.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "messaging/nats_internal.h"

namespace settle::messaging {
namespace {

int64_t Millis(absl::Duration d) {
  return std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, int64_t{1} << 40);
}

// Makes sure `options.stream` exists, holds its messages on disk and takes `options.subject`.
absl::Status EnsureStream(jsCtx* js, const NatsOptions& options) {
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js, options.stream.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    const jsStreamConfig* cfg = si->Config;
    const bool on_disk = cfg->Storage == js_FileStorage;
    bool takes_subject = false;
    for (int i = 0; i < cfg->SubjectsLen; ++i) {
      takes_subject = takes_subject || cfg->Subjects[i] == options.subject;
    }
    jsStreamInfo_Destroy(si);
    if (!on_disk) {
      return absl::FailedPreconditionError(
          absl::StrCat("NATS stream ", options.stream,
                       " keeps its messages in memory; payment results need file storage"));
    }
    if (!takes_subject) {
      return absl::FailedPreconditionError(absl::StrCat(
          "NATS stream ", options.stream, " does not take the subject ", options.subject));
    }
    return absl::OkStatus();
  }
  if (code != JSStreamNotFoundErr) return NatsError("JetStream stream info", s, code);
  return AddNatsStream(js, options, js_FileStorage);
}

}  // namespace

struct NatsPublisher::Handle {
  NatsConnection connection;
  jsCtx* js = nullptr;
  ~Handle() {
    if (js != nullptr) jsCtx_Destroy(js);
  }
};

// libnats may run an acknowledgement callback on its thread while the publisher is being
// destroyed, and cannot say when the last one has returned. So the callback's closure is a
// number, looked up here under a lock that the destructor also takes to unregister: once
// unregistered, no callback reaches the publisher, and one under way holds the destructor up.
namespace {
ABSL_CONST_INIT absl::Mutex live_mu(absl::kConstInit);
std::map<uintptr_t, NatsPublisher*>* live ABSL_GUARDED_BY(live_mu) = nullptr;  // Never freed.
uintptr_t last_token ABSL_GUARDED_BY(live_mu) = 0;
}  // namespace

struct NatsCallbacks {
  static uintptr_t Register(NatsPublisher* publisher) {
    absl::MutexLock lock(&live_mu);
    if (live == nullptr) live = new std::map<uintptr_t, NatsPublisher*>();
    (*live)[++last_token] = publisher;
    return last_token;
  }
  static void Unregister(uintptr_t token) {
    absl::MutexLock lock(&live_mu);
    live->erase(token);
  }
  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr*, void* closure) {
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, kMsgIdHeader, &id) == NATS_OK && id != nullptr) {
      absl::MutexLock lock(&live_mu);
      auto it = live->find(reinterpret_cast<uintptr_t>(closure));
      if (it != live->end()) it->second->Acknowledged(id, pa != nullptr);
    }
    natsMsg_Destroy(msg);  // Ours once the callback has it.
  }
};

NatsPublisher::NatsPublisher(std::unique_ptr<Handle> handle, std::string subject)
    : handle_(std::move(handle)),
      subject_(std::move(subject)),
      token_(NatsCallbacks::Register(this)) {}

NatsPublisher::~NatsPublisher() {
  NatsCallbacks::Unregister(token_);
  handle_->connection.Close();
}

absl::StatusOr<std::unique_ptr<NatsPublisher>> NatsPublisher::Create(const NatsOptions& options) {
  auto handle = std::make_unique<Handle>();
  if (absl::Status s = handle->connection.Connect(options); !s.ok()) return s;
  std::unique_ptr<NatsPublisher> publisher(new NatsPublisher(std::move(handle), options.subject));
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = Millis(options.connect_timeout);
  js_options.PublishAsync.AckHandler = &NatsCallbacks::OnAck;
  js_options.PublishAsync.AckHandlerClosure = reinterpret_cast<void*>(publisher->token_);
  Handle& h = *publisher->handle_;
  if (natsStatus s = natsConnection_JetStream(&h.js, h.connection.get(), &js_options);
      s != NATS_OK) {
    return NatsError("JetStream context", s);
  }
  if (absl::Status s = EnsureStream(h.js, options); !s.ok()) return s;
  return publisher;
}

void NatsPublisher::Acknowledged(const std::string& id, bool stored) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return;  // An earlier batch's.
  results_[it->second] = stored ? 1 : 0;
}

absl::StatusOr<std::vector<bool>> NatsPublisher::PublishConfirmed(
    const std::vector<OutboundMessage>& batch, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    index_.clear();
    results_.assign(batch.size(), -1);
    for (size_t i = 0; i < batch.size(); ++i) index_[batch[i].message_id] = i;
  }
  jsCtx* js = handle_->js;
  for (size_t i = 0; i < batch.size(); ++i) {
    const OutboundMessage& m = batch[i];
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject_.c_str(), nullptr, m.body.data(),
                                  static_cast<int>(m.body.size()));
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kMsgIdHeader, m.message_id.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kContentTypeHeader, m.content_type.c_str());
    if (s == NATS_OK && !m.key.empty()) s = natsMsgHeader_Set(msg, kKeyHeader, m.key.c_str());
    jsPubOptions publish;
    jsPubOptions_Init(&publish);
    publish.MaxWait = Millis(deadline - absl::Now());
    if (s == NATS_OK) s = js_PublishMsgAsync(js, &msg, &publish);
    natsMsg_Destroy(msg);  // Null once libnats owns it.
    if (s != NATS_OK) return NatsError("publish to JetStream", s);
  }
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = Millis(deadline - absl::Now());
  const natsStatus s = js_PublishAsyncComplete(js, &wait);
  if (!handle_->connection.Connected()) {
    return absl::UnavailableError("lost the NATS connection before every acknowledgement");
  }
  if (s == NATS_TIMEOUT) {
    absl::MutexLock lock(&mu_);
    const auto waiting = std::count(results_.begin(), results_.end(), -1);
    return absl::DeadlineExceededError(absl::StrCat(
        waiting, " of ", batch.size(), " NATS messages without a JetStream acknowledgement"));
  }
  if (s != NATS_OK) return NatsError("waiting for JetStream acknowledgements", s);
  absl::MutexLock lock(&mu_);
  std::vector<bool> published(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) published[i] = results_[i] == 1;
  return published;
}

}  // namespace settle::messaging
