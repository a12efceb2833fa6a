#ifndef SETTLE_MESSAGING_KAFKA_MOCK_CLUSTER_H_
#define SETTLE_MESSAGING_KAFKA_MOCK_CLUSTER_H_

// TEST ONLY (linked by tests, never by a product binary): librdkafka's own mock Kafka cluster
// (rdkafka_mock.h) running in this process on loopback ports, with broker-down and
// request-error injection, and a reader of what a topic holds. No Kafka broker is packaged for
// Debian, so this is what the Kafka tests run against. Other processes reach it through
// bootstrap_servers().

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace settle::messaging {

struct KafkaRecord {
  std::string key;
  std::string message_id;  // The settle-message-id header.
  std::string body;
  int32_t partition = 0;
  int64_t offset = 0;
};

// Thread-safe as librdkafka's mock API is; destroy it after every client of it.
class KafkaMockCluster final {
 public:
  // `brokers` brokers (ids 1..brokers) and `topic` with `partitions` partitions, each
  // replicated on up to three of them.
  static absl::StatusOr<std::unique_ptr<KafkaMockCluster>> Start(int brokers,
                                                                 const std::string& topic,
                                                                 int partitions);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  const std::string& bootstrap_servers() const { return bootstrap_servers_; }

  // A broker that is down closes its connections and accepts none until it is up again.
  absl::Status SetBrokerDown(int32_t broker_id);
  absl::Status SetBrokerUp(int32_t broker_id);
  // The next `count` Produce requests to any broker fail: with NOT_ENOUGH_REPLICAS (retriable:
  // the producer retries them) or, when `retriable` is false, with MSG_SIZE_TOO_LARGE (the
  // message fails and its delivery report says so).
  void FailNextProduces(int count, bool retriable);

  // Every record of the topic, partition by partition in offset order; waits up to `timeout`
  // to have read up to each partition's end.
  absl::StatusOr<std::vector<KafkaRecord>> ReadAll(absl::Duration timeout);

 private:
  struct State;
  explicit KafkaMockCluster(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::string bootstrap_servers_;
};

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_KAFKA_MOCK_CLUSTER_H_
