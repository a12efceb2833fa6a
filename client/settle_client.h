#ifndef SETTLE_CLIENT_SETTLE_CLIENT_H_
#define SETTLE_CLIENT_SETTLE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/credentials.h"
#include "common/shard_map.h"
#include "settle/v1/coordinator.grpc.pb.h"

namespace settle::client {

struct RetryOptions {
  // Of Execute on UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED, same key each time.
  int max_attempts = 5;
  absl::Duration call_timeout = absl::Seconds(30);  // gRPC deadline of each attempt.
  absl::Duration backoff = absl::Milliseconds(100);  // Doubles per attempt...
  absl::Duration max_backoff = absl::Seconds(2);     // ... up to this.
};

// A payment API's handle on the coordinator, or on the shards of one deployment: Execute and
// lookups by key go to the shard that owns the key, everything about a transaction id to the
// id's shard (common/shard_map.h). Blocking calls; thread-safe; cheap to share. Every error is
// the coordinator's status (see coordinator.proto), or UNAVAILABLE when it cannot be reached;
// with several shards that message starts "shard s<N> (<endpoint>): ", since only that shard's
// keys wait.
class SettleClient final {
 public:
  // One coordinator on `channel`.
  explicit SettleClient(std::shared_ptr<grpc::Channel> channel);
  // Shards: channels[i] reaches shard s<i> at endpoints[i] (named in errors).
  SettleClient(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
               const std::vector<std::string>& endpoints);
  // A channel to `endpoint` (host:port), TLS when `tls` has a CA (common/credentials.h).
  static std::unique_ptr<SettleClient> Connect(const std::string& endpoint,
                                               const TlsOptions& tls = {});
  // The shards `spec` lists (ShardMap::Parse: one endpoint, a comma-separated list, or a
  // pattern such as "settle-coordinator-{0..3}.settle-coordinator:7070"). INVALID_ARGUMENT
  // for a bad spec.
  static absl::StatusOr<std::unique_ptr<SettleClient>> ConnectShards(const std::string& spec,
                                                                     const TlsOptions& tls = {});

  int shard_count() const { return static_cast<int>(shards_.size()); }
  const ShardMap& shards() const { return map_; }

  // Runs one transaction to its outcome. Retries on UNAVAILABLE, DEADLINE_EXCEEDED and
  // CANCELLED with the same idempotency key, which is safe: a repeat returns the first outcome.
  // An ABORTED
  // outcome is OK, not an error.
  absl::StatusOr<v1::ExecuteResponse> Execute(const v1::ExecuteRequest& request,
                                              const RetryOptions& retry = {}) const;

  // By id: INVALID_ARGUMENT for an id of none of the shards.
  absl::StatusOr<v1::Transaction> GetTransaction(const std::string& txn_id) const;
  absl::StatusOr<v1::Transaction> GetTransactionByKey(const std::string& key) const;
  // Listings are per shard (each has its own pages).
  absl::StatusOr<v1::ListTransactionsResponse> ListTransactions(
      const v1::ListTransactionsRequest& request, int shard = 0) const;
  absl::StatusOr<v1::Transaction> AbortTransaction(const std::string& txn_id,
                                                   const std::string& reason) const;
  // A parked saga: try its refused compensations again, or mark it resolved by hand.
  absl::StatusOr<v1::Transaction> RetryTransaction(const std::string& txn_id,
                                                   const std::string& who,
                                                   const std::string& reason) const;
  absl::StatusOr<v1::Transaction> ResolveTransaction(const std::string& txn_id,
                                                     const std::string& who,
                                                     const std::string& reason) const;

  // Registry changes go to every shard, in order, stopping at the first error (running the
  // command again is safe).
  absl::StatusOr<v1::ParticipantInfo> RegisterParticipant(const std::string& name,
                                                          const std::string& endpoint) const;
  absl::Status DeregisterParticipant(const std::string& name) const;
  absl::StatusOr<std::vector<v1::ParticipantInfo>> ListParticipants(int shard = 0) const;
  // One page of the operators' audit trail of one shard, oldest first.
  absl::StatusOr<v1::ListOperatorCommandsResponse> ListOperatorCommands(
      const v1::ListOperatorCommandsRequest& request, int shard = 0) const;
  // Starts draining `shard` (report_only false; who is required) or reports its progress.
  absl::StatusOr<v1::DrainShardResponse> DrainShard(int shard, bool report_only,
                                                    const std::string& who = "",
                                                    const std::string& reason = "") const;

 private:
  struct Shard {  // Shard s<i> is shards_[i], at map_.endpoints()[i].
    std::unique_ptr<v1::Coordinator::Stub> coordinator;
    std::unique_ptr<v1::Registry::Stub> registry;
  };
  // `call(shard, ctx, &response)` on shard `shard` with `timeout`.
  template <typename Resp, typename Call>
  absl::StatusOr<Resp> OnShard(int shard, absl::Duration timeout, Call call) const;
  absl::Status CheckShardIndex(int shard) const;

  ShardMap map_;
  std::vector<Shard> shards_;
};

// The reference payment: move `amount_minor` from one account to another at balance, journal
// both legs at ledger and queue a receipt at notification (participants registered under those
// names).
v1::ExecuteRequest MakeTransfer(const std::string& idempotency_key, const std::string& from,
                                const std::string& to, int64_t amount_minor,
                                absl::Duration timeout = absl::Seconds(5));

// The reference card payment, a MODE_SAGA transaction: step 0 charges `card` at the gateway;
// step 1 credits `merchant` at balance and journals it at ledger (card receivables against the
// merchant); step 2 queues the merchant's receipt at notification. A failed step undoes the
// earlier ones: the credit is taken back, the entry reversed, the charge refunded.
v1::ExecuteRequest MakeCardPayment(const std::string& idempotency_key, const std::string& card,
                                   const std::string& merchant, int64_t amount_minor);
// A refund of an earlier card payment, as its own saga: step 0 takes the amount back from the
// merchant and journals it; step 1 refunds it at the gateway (`charge_id` is the payment's
// "<txn_id>/0"); step 2 tells the merchant.
v1::ExecuteRequest MakeCardRefund(const std::string& idempotency_key, const std::string& charge_id,
                                  const std::string& merchant, int64_t amount_minor);
// The ledger account card payments are journalled against.
inline constexpr char kCardReceivables[] = "card-receivables";

}  // namespace settle::client

#endif  // SETTLE_CLIENT_SETTLE_CLIENT_H_
