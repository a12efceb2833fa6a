#include "messaging/kafka_mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace settle::messaging {
namespace {

constexpr int16_t kProduceApiKey = 0;  // Kafka protocol's ApiKey of Produce.

int Millis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, 1 << 30));
}

void Quiet(const rd_kafka_t*, int, const char*, const char*) {}

rd_kafka_t* NewClient(rd_kafka_type_t type,
                      const std::vector<std::pair<std::string, std::string>>& properties,
                      std::string* error) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      *error = err;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_conf_set_log_cb(conf, &Quiet);  // The cluster's and the reader's chatter.
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    *error = err;
    rd_kafka_conf_destroy(conf);
  }
  return rk;
}

std::string Header(rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return "";
  }
  return std::string(static_cast<const char*>(value), size);
}

}  // namespace

struct KafkaMockCluster::State {
  rd_kafka_t* owner = nullptr;  // The handle the mock cluster hangs from.
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string topic;
  int partitions = 0;
  ~State() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
    if (owner != nullptr) rd_kafka_destroy(owner);
  }
};

KafkaMockCluster::KafkaMockCluster(std::unique_ptr<State> state)
    : state_(std::move(state)),
      bootstrap_servers_(rd_kafka_mock_cluster_bootstraps(state_->cluster)) {}

KafkaMockCluster::~KafkaMockCluster() = default;

absl::StatusOr<std::unique_ptr<KafkaMockCluster>> KafkaMockCluster::Start(int brokers,
                                                                          const std::string& topic,
                                                                          int partitions) {
  auto state = std::make_unique<State>();
  state->topic = topic;
  state->partitions = partitions;
  std::string error;
  state->owner = NewClient(RD_KAFKA_PRODUCER, {}, &error);
  if (state->owner == nullptr) return absl::InternalError(absl::StrCat("kafka: ", error));
  state->cluster = rd_kafka_mock_cluster_new(state->owner, brokers);
  if (state->cluster == nullptr) return absl::InternalError("kafka mock cluster did not start");
  rd_kafka_resp_err_t e =
      rd_kafka_mock_topic_create(state->cluster, topic.c_str(), partitions, std::min(brokers, 3));
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(absl::StrCat("kafka mock topic: ", rd_kafka_err2str(e)));
  }
  return std::unique_ptr<KafkaMockCluster>(new KafkaMockCluster(std::move(state)));
}

absl::Status KafkaMockCluster::SetBrokerDown(int32_t broker_id) {
  rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_down(state_->cluster, broker_id);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("broker ", broker_id, ": ", rd_kafka_err2str(e)));
}

absl::Status KafkaMockCluster::SetBrokerUp(int32_t broker_id) {
  rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_up(state_->cluster, broker_id);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("broker ", broker_id, ": ", rd_kafka_err2str(e)));
}

void KafkaMockCluster::FailNextProduces(int count, bool retriable) {
  std::vector<rd_kafka_resp_err_t> errors(count, retriable ? RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS
                                                           : RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  rd_kafka_mock_push_request_errors_array(state_->cluster, kProduceApiKey, errors.size(),
                                          errors.data());
}

absl::StatusOr<std::vector<KafkaRecord>> KafkaMockCluster::ReadAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string error;
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER,
                             {{"bootstrap.servers", bootstrap_servers_},
                              {"group.id", "settle-test-reader"},
                              {"enable.auto.commit", "false"},
                              {"enable.partition.eof", "true"}},
                             &error);
  if (rk == nullptr) return absl::InternalError(absl::StrCat("kafka reader: ", error));
  std::map<int32_t, int64_t> end;  // Partition -> its high watermark when we started.
  std::map<int32_t, std::vector<KafkaRecord>> by_partition;
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(0);
  absl::Status status;
  for (int32_t p = 0; p < state_->partitions && status.ok(); ++p) {
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, state_->topic.c_str(), p, &low,
                                                             &high, Millis(deadline - absl::Now()));
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = absl::UnavailableError(absl::StrCat("kafka watermarks: ", rd_kafka_err2str(e)));
    } else if (high > low) {
      end[p] = high;
      rd_kafka_topic_partition_list_add(assignment, state_->topic.c_str(), p)->offset = low;
    }
  }
  if (status.ok() && !end.empty()) rd_kafka_assign(rk, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  size_t finished = 0;
  while (status.ok() && finished < end.size()) {
    if (absl::Now() >= deadline) {
      status = absl::DeadlineExceededError("kafka reader did not reach the end of the topic");
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaRecord r;
      r.key.assign(static_cast<const char*>(m->key), m->key_len);
      r.body.assign(static_cast<const char*>(m->payload), m->len);
      r.message_id = Header(m, "settle-message-id");
      r.partition = m->partition;
      r.offset = m->offset;
      if (r.offset + 1 == end[r.partition]) ++finished;
      by_partition[r.partition].push_back(std::move(r));
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      status = absl::UnavailableError(absl::StrCat("kafka reader: ", rd_kafka_message_errstr(m)));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (!status.ok()) return status;
  std::vector<KafkaRecord> out;
  for (auto& [partition, records] : by_partition) {
    for (KafkaRecord& r : records) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace settle::messaging
