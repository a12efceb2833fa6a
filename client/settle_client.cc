#include "client/settle_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "proto/time_convert.h"
#include "settle/v1/reference.pb.h"

namespace settle::client {
namespace {

constexpr absl::Duration kQueryTimeout = absl::Seconds(10);

std::shared_ptr<grpc::Channel> ShardChannel(const std::string& endpoint, const TlsOptions& tls) {
  grpc::ChannelArguments args;
  // A shard back from a crash is found within two seconds, not gRPC's two minutes.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(endpoint, ChannelCredentials(tls), args);
}

}  // namespace

SettleClient::SettleClient(std::shared_ptr<grpc::Channel> channel)
    : SettleClient(std::vector<std::shared_ptr<grpc::Channel>>{std::move(channel)}, {""}) {}

namespace {

// The routing of `n` shards; an endpoint's text does not change where a key or id goes.
ShardMap MapOf(size_t n, const std::vector<std::string>& endpoints) {
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) {
    names.push_back(i < endpoints.size() && !endpoints[i].empty() ? endpoints[i] : ShardName(i));
  }
  return *ShardMap::Parse(absl::StrJoin(names, ","));
}

}  // namespace

SettleClient::SettleClient(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                           const std::vector<std::string>& endpoints)
    : map_(MapOf(channels.size(), endpoints)) {
  for (size_t i = 0; i < channels.size(); ++i) {
    shards_.push_back({v1::Coordinator::NewStub(channels[i]), v1::Registry::NewStub(channels[i])});
  }
}

std::unique_ptr<SettleClient> SettleClient::Connect(const std::string& endpoint,
                                                    const TlsOptions& tls) {
  return std::make_unique<SettleClient>(
      std::vector<std::shared_ptr<grpc::Channel>>{ShardChannel(endpoint, tls)},
      std::vector<std::string>{endpoint});
}

absl::StatusOr<std::unique_ptr<SettleClient>> SettleClient::ConnectShards(const std::string& spec,
                                                                          const TlsOptions& tls) {
  absl::StatusOr<ShardMap> map = ShardMap::Parse(spec);
  if (!map.ok()) return map.status();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& e : map->endpoints()) channels.push_back(ShardChannel(e, tls));
  return std::make_unique<SettleClient>(channels, map->endpoints());
}

template <typename Resp, typename Call>
absl::StatusOr<Resp> SettleClient::OnShard(int shard, absl::Duration timeout, Call call) const {
  const Shard& s = shards_[shard];
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Resp resp;
  absl::Status status = FromGrpcStatus(call(s, &ctx, &resp));
  if (status.ok()) return resp;
  // With several shards, say which one could not be reached: only its keys wait.
  if (shards_.size() > 1 && (status.code() == absl::StatusCode::kUnavailable ||
                             status.code() == absl::StatusCode::kDeadlineExceeded)) {
    return absl::Status(status.code(),
                        absl::StrCat("shard ", ShardName(shard), " (", map_.endpoints()[shard], "): ",
                                     status.message()));
  }
  return status;
}

absl::StatusOr<v1::ExecuteResponse> SettleClient::Execute(const v1::ExecuteRequest& request,
                                                          const RetryOptions& retry) const {
  const int shard = map_.ShardOfKey(request.idempotency_key());
  absl::Duration backoff = retry.backoff;
  absl::Status last;
  for (int attempt = 1; attempt <= retry.max_attempts; ++attempt) {
    auto r = OnShard<v1::ExecuteResponse>(
        shard, retry.call_timeout,
        [&](const Shard& s, grpc::ClientContext* ctx, v1::ExecuteResponse* resp) {
          return s.coordinator->Execute(ctx, request, resp);
        });
    if (r.ok()) return r;
    last = r.status();
    // CANCELLED comes only from the server's side (this client never cancels): a coordinator
    // shutting down with the call just accepted. Like the others, safe to send again.
    if (last.code() != absl::StatusCode::kUnavailable &&
        last.code() != absl::StatusCode::kDeadlineExceeded &&
        last.code() != absl::StatusCode::kCancelled) {
      return last;
    }
    if (attempt < retry.max_attempts) {
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(backoff));  // Client-side backoff.
      backoff = std::min(backoff * 2, retry.max_backoff);
    }
  }
  return last;
}

absl::StatusOr<v1::Transaction> SettleClient::GetTransaction(const std::string& txn_id) const {
  absl::StatusOr<int> shard = map_.ShardOfTxnId(txn_id);
  if (!shard.ok()) return shard.status();
  v1::GetTransactionRequest req;
  req.set_txn_id(txn_id);
  return OnShard<v1::Transaction>(*shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
    return s.coordinator->GetTransaction(ctx, req, r);
  });
}

absl::StatusOr<v1::Transaction> SettleClient::GetTransactionByKey(const std::string& key) const {
  v1::GetTransactionRequest req;
  req.set_idempotency_key(key);
  return OnShard<v1::Transaction>(map_.ShardOfKey(key), kQueryTimeout,
                                  [&](const Shard& s, auto* ctx, auto* r) {
                                    return s.coordinator->GetTransaction(ctx, req, r);
                                  });
}

absl::StatusOr<v1::ListTransactionsResponse> SettleClient::ListTransactions(
    const v1::ListTransactionsRequest& request, int shard) const {
  if (absl::Status s = CheckShardIndex(shard); !s.ok()) return s;
  return OnShard<v1::ListTransactionsResponse>(
      shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
        return s.coordinator->ListTransactions(ctx, request, r);
      });
}

absl::StatusOr<v1::ListOperatorCommandsResponse> SettleClient::ListOperatorCommands(
    const v1::ListOperatorCommandsRequest& request, int shard) const {
  if (absl::Status s = CheckShardIndex(shard); !s.ok()) return s;
  return OnShard<v1::ListOperatorCommandsResponse>(
      shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
        return s.coordinator->ListOperatorCommands(ctx, request, r);
      });
}

absl::StatusOr<v1::DrainShardResponse> SettleClient::DrainShard(int shard, bool report_only,
                                                                const std::string& who,
                                                                const std::string& reason) const {
  if (absl::Status s = CheckShardIndex(shard); !s.ok()) return s;
  v1::DrainShardRequest req;
  req.set_report_only(report_only);
  req.set_operator_(who);
  req.set_reason(reason);
  return OnShard<v1::DrainShardResponse>(
      shard, kQueryTimeout,
      [&](const Shard& s, auto* ctx, auto* r) { return s.coordinator->DrainShard(ctx, req, r); });
}

absl::Status SettleClient::CheckShardIndex(int shard) const {
  if (shard >= 0 && shard < shard_count()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("shard ", shard, " is not one of s0..s", shard_count() - 1));
}

absl::StatusOr<v1::Transaction> SettleClient::AbortTransaction(const std::string& txn_id,
                                                               const std::string& reason) const {
  absl::StatusOr<int> shard = map_.ShardOfTxnId(txn_id);
  if (!shard.ok()) return shard.status();
  v1::AbortTransactionRequest req;
  req.set_txn_id(txn_id);
  req.set_reason(reason);
  auto resp = OnShard<v1::AbortTransactionResponse>(
      *shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
        return s.coordinator->AbortTransaction(ctx, req, r);
      });
  if (!resp.ok()) return resp.status();
  return resp->transaction();
}

namespace {

// Retry and resolve of a parked saga: the same request shape.
template <typename Req>
Req OperatorRequest(const std::string& txn_id, const std::string& who, const std::string& reason) {
  Req req;
  req.set_txn_id(txn_id);
  req.set_operator_(who);
  req.set_reason(reason);
  return req;
}

}  // namespace

absl::StatusOr<v1::Transaction> SettleClient::RetryTransaction(const std::string& txn_id,
                                                               const std::string& who,
                                                               const std::string& reason) const {
  absl::StatusOr<int> shard = map_.ShardOfTxnId(txn_id);
  if (!shard.ok()) return shard.status();
  auto req = OperatorRequest<v1::RetryTransactionRequest>(txn_id, who, reason);
  return OnShard<v1::Transaction>(*shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
    return s.coordinator->RetryTransaction(ctx, req, r);
  });
}

absl::StatusOr<v1::Transaction> SettleClient::ResolveTransaction(const std::string& txn_id,
                                                                 const std::string& who,
                                                                 const std::string& reason) const {
  absl::StatusOr<int> shard = map_.ShardOfTxnId(txn_id);
  if (!shard.ok()) return shard.status();
  auto req = OperatorRequest<v1::ResolveTransactionRequest>(txn_id, who, reason);
  return OnShard<v1::Transaction>(*shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
    return s.coordinator->ResolveTransaction(ctx, req, r);
  });
}

absl::StatusOr<v1::ParticipantInfo> SettleClient::RegisterParticipant(
    const std::string& name, const std::string& endpoint) const {
  v1::RegisterParticipantRequest req;
  req.set_name(name);
  req.set_endpoint(endpoint);
  absl::StatusOr<v1::RegisterParticipantResponse> resp;
  // Every shard calls every participant; registering again is harmless, so a failure is fixed
  // by running the same command again.
  for (int shard = 0; shard < shard_count(); ++shard) {
    resp = OnShard<v1::RegisterParticipantResponse>(
        shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
          return s.registry->RegisterParticipant(ctx, req, r);
        });
    if (!resp.ok()) return resp.status();
  }
  return resp->participant();
}

absl::Status SettleClient::DeregisterParticipant(const std::string& name) const {
  v1::DeregisterParticipantRequest req;
  req.set_name(name);
  for (int shard = 0; shard < shard_count(); ++shard) {
    auto resp = OnShard<v1::DeregisterParticipantResponse>(
        shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
          return s.registry->DeregisterParticipant(ctx, req, r);
        });
    if (!resp.ok()) return resp.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::ParticipantInfo>> SettleClient::ListParticipants(int shard) const {
  if (absl::Status s = CheckShardIndex(shard); !s.ok()) return s;
  v1::ListParticipantsRequest req;
  auto resp = OnShard<v1::ListParticipantsResponse>(
      shard, kQueryTimeout, [&](const Shard& s, auto* ctx, auto* r) {
        return s.registry->ListParticipants(ctx, req, r);
      });
  if (!resp.ok()) return resp.status();
  return std::vector<v1::ParticipantInfo>(resp->participants().begin(), resp->participants().end());
}

namespace {

v1::ExecuteRequest SagaRequest(const std::string& idempotency_key) {
  v1::ExecuteRequest req;
  req.set_idempotency_key(idempotency_key);
  req.set_mode(v1::MODE_SAGA);
  req.mutable_timeout()->set_seconds(30);
  return req;
}

void AddStep(v1::ExecuteRequest& req, const std::string& participant, const std::string& payload,
             uint32_t step) {
  auto* b = req.add_branches();
  b->set_participant(participant);
  b->set_payload(payload);
  b->set_step(step);
}

// Money moves between the merchant and card receivables, at balance and at ledger.
void AddMerchantLegs(v1::ExecuteRequest& req, const std::string& merchant, int64_t signed_amount,
                     const std::string& memo, uint32_t step) {
  v1::BalancePayload balance;
  auto* posting = balance.add_postings();
  posting->set_account(merchant);
  posting->set_amount_minor(signed_amount);
  AddStep(req, "balance", balance.SerializeAsString(), step);
  v1::LedgerPayload ledger;
  const int64_t amount = signed_amount > 0 ? signed_amount : -signed_amount;
  auto* dr = ledger.add_lines();
  dr->set_account(signed_amount > 0 ? kCardReceivables : merchant);
  dr->set_debit_minor(amount);
  auto* cr = ledger.add_lines();
  cr->set_account(signed_amount > 0 ? merchant : kCardReceivables);
  cr->set_credit_minor(amount);
  ledger.set_memo(memo);
  AddStep(req, "ledger", ledger.SerializeAsString(), step);
}

void AddReceipt(v1::ExecuteRequest& req, const std::string& merchant, const std::string& topic,
                int64_t amount, uint32_t step) {
  v1::NotificationPayload note;
  note.set_recipient(merchant);
  note.set_topic(topic);
  note.set_body(absl::StrCat("{\"merchant\":\"", merchant, "\",\"amount_minor\":", amount, "}"));
  AddStep(req, "notification", note.SerializeAsString(), step);
}

}  // namespace

v1::ExecuteRequest MakeCardPayment(const std::string& idempotency_key, const std::string& card,
                                   const std::string& merchant, int64_t amount_minor) {
  v1::ExecuteRequest req = SagaRequest(idempotency_key);
  v1::GatewayPayload charge;
  charge.mutable_charge()->set_card(card);
  charge.mutable_charge()->set_amount_minor(amount_minor);
  charge.mutable_charge()->set_merchant(merchant);
  AddStep(req, "gateway", charge.SerializeAsString(), 0);
  AddMerchantLegs(req, merchant, amount_minor, absl::StrCat("card payment ", idempotency_key), 1);
  AddReceipt(req, merchant, "payment.settled", amount_minor, 2);
  return req;
}

v1::ExecuteRequest MakeCardRefund(const std::string& idempotency_key, const std::string& charge_id,
                                  const std::string& merchant, int64_t amount_minor) {
  v1::ExecuteRequest req = SagaRequest(idempotency_key);
  AddMerchantLegs(req, merchant, -amount_minor, absl::StrCat("card refund ", idempotency_key), 0);
  v1::GatewayPayload refund;
  refund.mutable_refund()->set_charge_id(charge_id);
  refund.mutable_refund()->set_amount_minor(amount_minor);
  AddStep(req, "gateway", refund.SerializeAsString(), 1);
  AddReceipt(req, merchant, "payment.refunded", amount_minor, 2);
  return req;
}

v1::ExecuteRequest MakeTransfer(const std::string& idempotency_key, const std::string& from,
                                const std::string& to, int64_t amount_minor,
                                absl::Duration timeout) {
  v1::ExecuteRequest req;
  req.set_idempotency_key(idempotency_key);
  ToProtoDuration(timeout, req.mutable_timeout());

  v1::BalancePayload balance;
  auto* debit = balance.add_postings();
  debit->set_account(from);
  debit->set_amount_minor(-amount_minor);
  auto* credit = balance.add_postings();
  credit->set_account(to);
  credit->set_amount_minor(amount_minor);

  v1::LedgerPayload ledger;
  auto* dr = ledger.add_lines();
  dr->set_account(to);
  dr->set_debit_minor(amount_minor);
  auto* cr = ledger.add_lines();
  cr->set_account(from);
  cr->set_credit_minor(amount_minor);
  ledger.set_memo(absl::StrCat("transfer ", idempotency_key));

  v1::NotificationPayload note;
  note.set_recipient(from);
  note.set_topic("payment.settled");
  note.set_body(absl::StrCat("{\"from\":\"", from, "\",\"to\":\"", to,
                             "\",\"amount_minor\":", amount_minor, "}"));

  auto add = [&req](const std::string& participant, const std::string& payload) {
    auto* b = req.add_branches();
    b->set_participant(participant);
    b->set_payload(payload);
  };
  add("balance", balance.SerializeAsString());
  add("ledger", ledger.SerializeAsString());
  add("notification", note.SerializeAsString());
  return req;
}

}  // namespace settle::client
