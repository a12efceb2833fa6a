#include "messaging/kafka_publisher.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/json_log.h"

namespace settle::messaging {
namespace {

constexpr char kMessageIdHeader[] = "settle-message-id";
constexpr char kContentTypeHeader[] = "content-type";
// A token is the batch's stamp and the message's index: reports of an earlier batch are ignored.
constexpr int kIndexBits = 24;
constexpr uintptr_t kIndexMask = (uintptr_t{1} << kIndexBits) - 1;

int Millis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, 1 << 30));
}

absl::Status SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(absl::StrCat("kafka property ", key, ": ", err));
  }
  return absl::OkStatus();
}

// librdkafka's own lines go through our JSON logger (syslog levels: 0-3 error, 4 warning).
void OnLog(const rd_kafka_t*, int level, const char* facility, const char* message) {
  const LogLevel ours = level <= 3   ? LogLevel::kError
                        : level == 4 ? LogLevel::kWarning
                        : level <= 6 ? LogLevel::kInfo
                                     : LogLevel::kDebug;
  Log(ours, "librdkafka", {{"facility", facility}, {"detail", message}});
}

}  // namespace

struct KafkaPublisher::Handle {
  rd_kafka_t* rk = nullptr;
  ~Handle() {
    if (rk == nullptr) return;
    // Nothing may report into a publisher that is gone: drop what waits, let the purged
    // messages' reports run, then close.
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, 1000);
    rd_kafka_destroy(rk);
  }
};

struct KafkaCallbacks {
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<KafkaPublisher*>(opaque)->Delivered(
        reinterpret_cast<uintptr_t>(m->_private),
        m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED);
  }
};

KafkaPublisher::KafkaPublisher(std::unique_ptr<Handle> handle, std::string topic)
    : handle_(std::move(handle)), topic_(std::move(topic)) {}

KafkaPublisher::~KafkaPublisher() { handle_.reset(); }

absl::StatusOr<std::unique_ptr<KafkaPublisher>> KafkaPublisher::Create(
    const KafkaOptions& options) {
  if (options.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("kafka bootstrap servers are empty");
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> properties = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"client.id", options.client_id},
      // Our deadline decides; librdkafka keeps retrying meanwhile.
      {"message.timeout.ms", "300000"},
      {"linger.ms", "1"},
  };
  properties.insert(properties.end(), options.config.begin(), options.config.end());
  // Last, so that nothing given above overrides them.
  properties.push_back({"enable.idempotence", "true"});
  properties.push_back({"acks", "all"});
  for (const auto& [key, value] : properties) {
    if (absl::Status s = SetProperty(conf, key, value); !s.ok()) {
      rd_kafka_conf_destroy(conf);
      return s;
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaCallbacks::OnDelivery);
  rd_kafka_conf_set_log_cb(conf, &OnLog);
  // Errors reach us through delivery reports and deadlines, and the relay logs its failures;
  // the default error callback would log each broker's every lost connection once more.
  rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int, const char*, void*) {});
  auto publisher = std::unique_ptr<KafkaPublisher>(
      new KafkaPublisher(std::make_unique<Handle>(), options.topic));
  rd_kafka_conf_set_opaque(conf, publisher.get());
  char err[512];
  publisher->handle_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (publisher->handle_->rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // Still ours when rd_kafka_new fails.
    return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", err));
  }
  rd_kafka_t* rk = publisher->handle_->rk;
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, options.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t e =
      rd_kafka_metadata(rk, 0, topic, &metadata, Millis(options.connect_timeout));
  rd_kafka_topic_destroy(topic);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("kafka cluster ", options.bootstrap_servers,
                                               " did not answer: ", rd_kafka_err2str(e)));
  }
  const rd_kafka_resp_err_t topic_error =
      metadata->topic_cnt == 1 ? metadata->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  rd_kafka_metadata_destroy(metadata);
  if (topic_error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kafka topic ", options.topic, " cannot be used: ", rd_kafka_err2str(topic_error)));
  }
  return publisher;
}

void KafkaPublisher::Delivered(uintptr_t token, bool persisted) {
  const size_t index = token & kIndexMask;
  if ((token >> kIndexBits) != batch_ || index >= results_.size() || results_[index] >= 0) return;
  results_[index] = persisted ? 1 : 0;
  --unreported_;
}

absl::StatusOr<std::vector<bool>> KafkaPublisher::PublishConfirmed(
    const std::vector<OutboundMessage>& batch, absl::Time deadline) {
  if (batch.size() > kIndexMask) return absl::InvalidArgumentError("kafka batch too large");
  rd_kafka_t* rk = handle_->rk;
  ++batch_;
  results_.assign(batch.size(), -1);
  unreported_ = batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    const OutboundMessage& m = batch[i];
    const uintptr_t token = (static_cast<uintptr_t>(batch_) << kIndexBits) | i;
    for (;;) {
      rd_kafka_resp_err_t e =
          rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic_.c_str()),
                            RD_KAFKA_V_KEY(const_cast<char*>(m.key.data()), m.key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(m.body.data()), m.body.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_HEADER(kMessageIdHeader, m.message_id.data(),
                                              static_cast<ssize_t>(m.message_id.size())),
                            RD_KAFKA_V_HEADER(kContentTypeHeader, m.content_type.data(),
                                              static_cast<ssize_t>(m.content_type.size())),
                            RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(token)), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && absl::Now() < deadline) {
        rd_kafka_poll(rk, 10);  // Reports free room in librdkafka's queue.
        continue;
      }
      Delivered(token, false);  // Refused outright (too large, unknown topic): not published.
      break;
    }
  }
  char fatal[512];
  while (unreported_ > 0) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(unreported_, " of ", batch.size(),
                                                      " kafka messages without a delivery report"));
    }
    rd_kafka_poll(rk, std::max(1, std::min(Millis(left), 100)));
    if (rd_kafka_fatal_error(rk, fatal, sizeof(fatal)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // The idempotent producer cannot go on (e.g. a sequence gap); a new one can.
      return absl::UnavailableError(absl::StrCat("kafka producer failed: ", fatal));
    }
  }
  std::vector<bool> published(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) published[i] = results_[i] == 1;
  return published;
}

}  // namespace settle::messaging
