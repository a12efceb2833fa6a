#ifndef SETTLE_MESSAGING_NATS_PUBLISHER_H_
#define SETTLE_MESSAGING_NATS_PUBLISHER_H_

// NATS JetStream through libnats (the NATS C client), behind the Publisher interface: with
// nats_stream.cc (the tests' reader), the only files of the product that include libnats
// (STYLE.md 11).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "messaging/publisher.h"

namespace settle::messaging {

struct NatsOptions {
  // nats://host:port or tls://host:port; several comma-separated (a cluster). user:password@
  // may be given in it, but a credentials file keeps secrets out of the process list.
  std::string url;
  std::string stream = "SETTLE_PAYMENT_RESULTS";
  std::string subject = "settle.payment-results";
  // JetStream's de-duplication window for the stream it creates: a message id seen within it
  // is acknowledged and not stored again. A relay republishes an unmarked batch at its next
  // start, so this bounds how long a relay may stay down and still add no copy.
  absl::Duration duplicate_window = absl::Minutes(2);
  // Replicas of the stream it creates. A single server acknowledges a message before it reaches
  // the disk (nats-server 2.9 syncs its files every two minutes): only replicas on other
  // machines, 3 in production, make an acknowledged message survive a power cut.
  int replicas = 1;
  std::string ca_file;     // Trusted CAs for tls:// (empty: the system's).
  std::string creds_file;  // A NATS credentials file (JWT and seed), if the server wants one.
  absl::Duration connect_timeout = absl::Seconds(5);
};

// One JetStream publisher on its own connection (reconnects off: after any error the relay
// makes a new one). Create() makes sure the stream exists: it creates it with file storage,
// `replicas` and `duplicate_window` when missing, and refuses a stream that keeps messages in
// memory or does not take `subject`. Each message goes to `subject` with JetStream's
// Nats-Msg-Id header set to its id (so a republished copy within the window is dropped by the
// server), and Content-Type and Settle-Key (the transaction) headers. A message counts as
// published only when the stream acknowledged it (stored, or recognised as a duplicate of a
// stored one).
//
// Not thread-safe (Publisher): one owner thread; libnats delivers acknowledgements on its own
// thread into a mutex-guarded table, and none after the destructor has begun.
class NatsPublisher final : public Publisher {
 public:
  // UNAVAILABLE when no server answers; FAILED_PRECONDITION when the server has no JetStream
  // or the stream is unfit (memory storage, another subject); INVALID_ARGUMENT for a bad URL
  // or an unreadable CA or credentials file.
  static absl::StatusOr<std::unique_ptr<NatsPublisher>> Create(const NatsOptions& options);
  // Closes the connection; acknowledgements still in flight are dropped.
  ~NatsPublisher() override;
  NatsPublisher(const NatsPublisher&) = delete;
  NatsPublisher& operator=(const NatsPublisher&) = delete;

  absl::StatusOr<std::vector<bool>> PublishConfirmed(const std::vector<OutboundMessage>& batch,
                                                     absl::Time deadline) override;

 private:
  struct Handle;
  NatsPublisher(std::unique_ptr<Handle> handle, std::string subject);
  // libnats's acknowledgement callback, on its thread: the message with `id` was stored.
  void Acknowledged(const std::string& id, bool stored);
  friend struct NatsCallbacks;

  std::unique_ptr<Handle> handle_;
  const std::string subject_;
  const uintptr_t token_;  // What libnats's callbacks name it by (NatsCallbacks).
  absl::Mutex mu_;
  // The current batch's message ids, each with its index; an acknowledgement of an id not in
  // it (an earlier batch's) is ignored.
  std::map<std::string, size_t> index_ ABSL_GUARDED_BY(mu_);
  std::vector<int> results_ ABSL_GUARDED_BY(mu_);  // Per message: -1 waiting, 0 failed, 1 stored.
};

}  // namespace settle::messaging

#endif  // SETTLE_MESSAGING_NATS_PUBLISHER_H_
