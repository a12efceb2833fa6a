#include "client/settle_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "settle/v1/reference.pb.h"

namespace settle::client {
namespace {

template <typename Call>
absl::Status Invoke(absl::Duration timeout, Call call) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return FromGrpcStatus(call(&ctx));
}

constexpr absl::Duration kQueryTimeout = absl::Seconds(10);

}  // namespace

SettleClient::SettleClient(std::shared_ptr<grpc::Channel> channel)
    : coordinator_(v1::Coordinator::NewStub(channel)), registry_(v1::Registry::NewStub(channel)) {}

std::unique_ptr<SettleClient> SettleClient::Connect(const std::string& endpoint,
                                                    const TlsOptions& tls) {
  return std::make_unique<SettleClient>(grpc::CreateChannel(endpoint, ChannelCredentials(tls)));
}

absl::StatusOr<v1::ExecuteResponse> SettleClient::Execute(const v1::ExecuteRequest& request,
                                                          const RetryOptions& retry) const {
  absl::Duration backoff = retry.backoff;
  absl::Status last;
  for (int attempt = 1; attempt <= retry.max_attempts; ++attempt) {
    v1::ExecuteResponse response;
    last = Invoke(retry.call_timeout, [&](grpc::ClientContext* ctx) {
      return coordinator_->Execute(ctx, request, &response);
    });
    if (last.ok()) return response;
    if (last.code() != absl::StatusCode::kUnavailable &&
        last.code() != absl::StatusCode::kDeadlineExceeded) {
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
  v1::GetTransactionRequest req;
  req.set_txn_id(txn_id);
  v1::Transaction resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return coordinator_->GetTransaction(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::Transaction> SettleClient::GetTransactionByKey(const std::string& key) const {
  v1::GetTransactionRequest req;
  req.set_idempotency_key(key);
  v1::Transaction resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return coordinator_->GetTransaction(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ListTransactionsResponse> SettleClient::ListTransactions(
    const v1::ListTransactionsRequest& request) const {
  v1::ListTransactionsResponse resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return coordinator_->ListTransactions(ctx, request, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ListOperatorCommandsResponse> SettleClient::ListOperatorCommands(
    const v1::ListOperatorCommandsRequest& request) const {
  v1::ListOperatorCommandsResponse resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return coordinator_->ListOperatorCommands(ctx, request, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::Transaction> SettleClient::AbortTransaction(const std::string& txn_id,
                                                               const std::string& reason) const {
  v1::AbortTransactionRequest req;
  req.set_txn_id(txn_id);
  req.set_reason(reason);
  v1::AbortTransactionResponse resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return coordinator_->AbortTransaction(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp.transaction();
}

absl::StatusOr<v1::Transaction> SettleClient::RetryTransaction(const std::string& txn_id,
                                                               const std::string& who,
                                                               const std::string& reason) const {
  v1::RetryTransactionRequest req;
  req.set_txn_id(txn_id);
  req.set_operator_(who);
  req.set_reason(reason);
  v1::Transaction resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return coordinator_->RetryTransaction(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::Transaction> SettleClient::ResolveTransaction(const std::string& txn_id,
                                                                 const std::string& who,
                                                                 const std::string& reason) const {
  v1::ResolveTransactionRequest req;
  req.set_txn_id(txn_id);
  req.set_operator_(who);
  req.set_reason(reason);
  v1::Transaction resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return coordinator_->ResolveTransaction(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::ParticipantInfo> SettleClient::RegisterParticipant(
    const std::string& name, const std::string& endpoint) const {
  v1::RegisterParticipantRequest req;
  req.set_name(name);
  req.set_endpoint(endpoint);
  v1::RegisterParticipantResponse resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return registry_->RegisterParticipant(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp.participant();
}

absl::Status SettleClient::DeregisterParticipant(const std::string& name) const {
  v1::DeregisterParticipantRequest req;
  req.set_name(name);
  v1::DeregisterParticipantResponse resp;
  return Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return registry_->DeregisterParticipant(ctx, req, &resp);
  });
}

absl::StatusOr<std::vector<v1::ParticipantInfo>> SettleClient::ListParticipants() const {
  v1::ListParticipantsRequest req;
  v1::ListParticipantsResponse resp;
  absl::Status s = Invoke(kQueryTimeout, [&](grpc::ClientContext* ctx) {
    return registry_->ListParticipants(ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return std::vector<v1::ParticipantInfo>(resp.participants().begin(), resp.participants().end());
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
  const int64_t micros = absl::ToInt64Microseconds(timeout);
  req.mutable_timeout()->set_seconds(micros / 1000000);
  req.mutable_timeout()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);

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
