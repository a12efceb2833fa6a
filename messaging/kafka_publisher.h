#ifndef SETTLE_MESSAGING_KAFKA_PUBLISHER_H_
#define SETTLE_MESSAGING_KAFKA_PUBLISHER_H_

// Kafka through librdkafka, behind the Publisher interface: the only file pair of the product
// that includes librdkafka (STYLE.md 11; the test cluster in kafka_mock_cluster.h is the other).

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "messaging/publisher.h"

namespace settle::messaging {

struct KafkaOptions {
  std::string bootstrap_servers;  // host:port[,host:port...]
  std::string topic = "settle.payment-results";
  std::string client_id = "settle-outbox-relay";
  // How long Create() waits for the cluster to answer a metadata request.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Further librdkafka properties for a real cluster (security.protocol, ssl.*, sasl.*),
  // applied after ours; the idempotence and acks settings cannot be overridden.
  std::vector<std::pair<std::string, std::string>> config;
};

// One idempotent producer (enable.idempotence=true, hence acks=all and ordered retries): a
// message counts as published only when its delivery report says it was persisted by all
// in-sync replicas. The message's key is the record key (one transaction's messages stay on
// one partition, in order); its id travels in the `settle-message-id` header and its content
// type in `content-type`. Idempotence removes the duplicates of librdkafka's own retries; a
// message published again by a new producer (after a timeout or a crash) is a duplicate that
// consumers drop by its id.
//
// Not thread-safe (Publisher): delivery reports run on the owner's thread, inside
// PublishConfirmed.
class KafkaPublisher final : public Publisher {
 public:
  // Makes the producer and waits until the cluster answers a metadata request for the topic:
  // UNAVAILABLE when no broker does, INVALID_ARGUMENT for a property librdkafka refuses.
  static absl::StatusOr<std::unique_ptr<KafkaPublisher>> Create(const KafkaOptions& options);
  // Purges what was not yet reported and waits briefly for the reports: nothing outlives it.
  ~KafkaPublisher() override;
  KafkaPublisher(const KafkaPublisher&) = delete;
  KafkaPublisher& operator=(const KafkaPublisher&) = delete;

  absl::StatusOr<std::vector<bool>> PublishConfirmed(const std::vector<OutboundMessage>& batch,
                                                     absl::Time deadline) override;

 private:
  struct Handle;
  KafkaPublisher(std::unique_ptr<Handle> handle, std::string topic);
  // Called by librdkafka's delivery report callback, on the owner's thread.
  void Delivered(uintptr_t token, bool persisted);
  friend struct KafkaCallbacks;

  std::unique_ptr<Handle> handle_;
  const std::string topic_;
  uint32_t batch_ = 0;  // Stamps each batch's tokens: a late report of an old one is ignored.
  std::vector<int8_t> results_;  // Per message of the batch: -1 unreported, 0 failed, 1 persisted.
  size_t unreported_ = 0;
};

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_KAFKA_PUBLISHER_H_
