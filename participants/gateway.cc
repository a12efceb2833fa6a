// gateway: an external card gateway. A charge takes effect at once and is undone only by a
// refund, which completes asynchronously. Runs saga steps only; a two-phase Prepare is refused.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "participants/reference.h"
#include "proto/status_mapping.h"
#include "settle/v1/reference.grpc.pb.h"

namespace settle::participants {
namespace {

using sdk::StepOutcome;
using storage::Space;

constexpr char kChargePrefix[] = "charge/";
constexpr char kRefundPrefix[] = "refund/";
constexpr char kConfigKey[] = "config";
constexpr absl::Duration kDefaultRefundDelay = absl::Milliseconds(200);

std::string BranchId(const sdk::BranchContext& ctx) {
  return absl::StrCat(ctx.txn_id, "/", ctx.branch_id);
}

template <typename Msg>
absl::StatusOr<std::optional<Msg>> Read(storage::WorkView& view, const std::string& key) {
  auto raw = view.Get(Space::kData, key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::nullopt;
  Msg msg;
  if (!msg.ParseFromString(**raw)) return absl::DataLossError(absl::StrCat(key, " is unreadable"));
  return std::optional<Msg>(std::move(msg));
}

template <typename Msg>
void Write(storage::WorkView& view, const std::string& key, const Msg& msg) {
  view.Put(Space::kData, key, msg.SerializeAsString());
}

// A store error is not the gateway's answer: asked again.
StepOutcome Retry(const absl::Status& s) {
  return StepOutcome{StepOutcome::Kind::kInProgress, std::string(s.message())};
}

// Two-phase commit cannot hold a card charge: a Prepare is refused; nothing to commit or abort.
class GatewayTwoPhase final : public sdk::BranchHandler {
 public:
  sdk::Vote Prepare(const sdk::BranchContext&, const std::string&, storage::WorkView&) override {
    return sdk::Vote::No("the card gateway charges at once: run it in MODE_SAGA");
  }
  absl::Status Commit(const sdk::BranchContext&, const std::string&, storage::WorkView&) override {
    return absl::OkStatus();
  }
  absl::Status Abort(const sdk::BranchContext&, const std::string&, storage::WorkView&) override {
    return absl::OkStatus();
  }
};

class GatewayHandler final : public sdk::SagaHandler {
 public:
  StepOutcome Act(const sdk::BranchContext& ctx, const std::string& payload,
                  storage::WorkView& view) override {
    v1::GatewayPayload p;
    if (!p.ParseFromString(payload)) return StepOutcome::Refused("payload is not a GatewayPayload");
    auto config = ReadConfig(view);
    if (!config.ok()) return Retry(config.status());
    if (p.has_charge()) return Charge(BranchId(ctx), p.charge(), *config, view);
    if (p.has_refund()) {
      const auto& r = p.refund();
      auto charge = Read<v1::GatewayChargeRecord>(view, kChargePrefix + r.charge_id());
      if (!charge.ok()) return Retry(charge.status());
      if (!charge->has_value()) {
        return StepOutcome::Refused(absl::StrCat("no charge ", r.charge_id(), " to refund"));
      }
      return AdvanceRefund(BranchId(ctx), r.charge_id(), r.amount_minor(), *config, view,
                           /*create=*/true, (*charge)->amount_minor() - (*charge)->refunded_minor());
    }
    return StepOutcome::Refused("payload has neither a charge nor a refund");
  }

  StepOutcome Compensate(const sdk::BranchContext& ctx, const std::string& payload,
                         storage::WorkView& view) override {
    v1::GatewayPayload p;
    if (!p.ParseFromString(payload)) return StepOutcome::Refused("payload is not a GatewayPayload");
    auto config = ReadConfig(view);
    if (!config.ok()) return Retry(config.status());
    const std::string id = BranchId(ctx);
    if (p.has_charge()) {
      // Undo the charge by a refund in full, under its own key.
      auto charge = Read<v1::GatewayChargeRecord>(view, kChargePrefix + id);
      if (!charge.ok()) return Retry(charge.status());
      if (!charge->has_value()) return StepOutcome::Done();  // Never charged.
      return AdvanceRefund(id + "#compensation", id, (*charge)->amount_minor(), *config, view,
                           /*create=*/true, (*charge)->amount_minor());
    }
    // Undo a refund: cancel it while it is still in progress.
    auto refund = Read<v1::GatewayRefundRecord>(view, kRefundPrefix + id);
    if (!refund.ok()) return Retry(refund.status());
    if (!refund->has_value()) return StepOutcome::Done();
    v1::GatewayRefundRecord rec = **refund;
    if (rec.state() == v1::REFUND_STATE_DONE) {
      return StepOutcome::Refused("the refund was already paid out; it cannot be cancelled");
    }
    if (rec.state() == v1::REFUND_STATE_PENDING) {
      rec.set_state(v1::REFUND_STATE_CANCELLED);
      rec.set_completed_micros(absl::ToUnixMicros(absl::Now()));
      Write(view, kRefundPrefix + id, rec);
    }
    return StepOutcome::Done();
  }

 private:
  static absl::StatusOr<v1::GatewayConfig> ReadConfig(storage::WorkView& view) {
    auto config = Read<v1::GatewayConfig>(view, kConfigKey);
    if (!config.ok()) return config.status();
    return config->value_or(v1::GatewayConfig());
  }

  static StepOutcome Charge(const std::string& id, const v1::GatewayCharge& c,
                            const v1::GatewayConfig& config, storage::WorkView& view) {
    if (c.card().size() < 4 || c.card().size() > 32) {
      return StepOutcome::Refused("card must be 4 to 32 bytes");
    }
    if (c.merchant().empty()) return StepOutcome::Refused("merchant is required");
    if (c.amount_minor() <= 0 || c.amount_minor() > kMaxAmountMinor) {
      return StepOutcome::Refused(absl::StrCat("amount_minor ", c.amount_minor(),
                                               " is out of range 1..2^52"));
    }
    if (std::find(config.declined_cards().begin(), config.declined_cards().end(), c.card()) !=
        config.declined_cards().end()) {
      return StepOutcome::Refused("card declined by the issuer");
    }
    v1::GatewayChargeRecord rec;
    rec.set_charge_id(id);
    rec.set_card(c.card());
    rec.set_amount_minor(c.amount_minor());
    rec.set_merchant(c.merchant());
    rec.set_charged_micros(absl::ToUnixMicros(absl::Now()));
    Write(view, kChargePrefix + id, rec);
    return StepOutcome::Done();
  }

  // Requests the refund `refund_id` (once) and reports where it stands: in progress for the
  // refund delay (or while refunds fail for a while), then done or failed for good.
  static StepOutcome AdvanceRefund(const std::string& refund_id, const std::string& charge_id,
                                   int64_t amount, const v1::GatewayConfig& config,
                                   storage::WorkView& view, bool create, int64_t refundable) {
    const absl::Time now = absl::Now();
    auto existing = Read<v1::GatewayRefundRecord>(view, kRefundPrefix + refund_id);
    if (!existing.ok()) return Retry(existing.status());
    v1::GatewayRefundRecord rec;
    if (existing->has_value()) {
      rec = **existing;
    } else {
      if (!create) return StepOutcome::Done();
      if (amount <= 0 || amount > refundable) {
        return StepOutcome::Refused(absl::StrCat("refund of ", amount, " is out of range: ",
                                                 refundable, " of the charge is refundable"));
      }
      rec.set_refund_id(refund_id);
      rec.set_charge_id(charge_id);
      rec.set_amount_minor(amount);
      rec.set_state(v1::REFUND_STATE_PENDING);
      rec.set_requested_micros(absl::ToUnixMicros(now));
      Write(view, kRefundPrefix + refund_id, rec);
      return StepOutcome::InProgress();
    }
    switch (rec.state()) {
      case v1::REFUND_STATE_DONE:
        return StepOutcome::Done();
      case v1::REFUND_STATE_FAILED:
        if (config.refunds_fail_for_good()) {
          return StepOutcome::Refused("the issuer rejected the refund");
        }
        // Asked again after a rejection (an operator retried the saga): a new attempt under
        // the same key, so at most one of them is ever paid out.
        rec.set_state(v1::REFUND_STATE_PENDING);
        rec.set_requested_micros(absl::ToUnixMicros(now));
        rec.set_completed_micros(0);
        Write(view, kRefundPrefix + refund_id, rec);
        return StepOutcome::InProgress();
      case v1::REFUND_STATE_CANCELLED:
        return StepOutcome::Refused("the refund was cancelled");
      default:
        break;
    }
    const absl::Duration delay = config.refund_delay_micros() > 0
                                     ? absl::Microseconds(config.refund_delay_micros())
                                     : kDefaultRefundDelay;
    if (now < absl::FromUnixMicros(rec.requested_micros()) + delay ||
        now < absl::FromUnixMicros(config.refunds_fail_until_micros())) {
      return StepOutcome::InProgress();
    }
    rec.set_completed_micros(absl::ToUnixMicros(now));
    if (config.refunds_fail_for_good()) {
      rec.set_state(v1::REFUND_STATE_FAILED);
      Write(view, kRefundPrefix + refund_id, rec);
      // Kept (not refused) so the failure is recorded: the SDK drops a refusal's writes.
      return StepOutcome{StepOutcome::Kind::kInProgress, ""};
    }
    auto charge = Read<v1::GatewayChargeRecord>(view, kChargePrefix + charge_id);
    if (!charge.ok()) return Retry(charge.status());
    if (charge->has_value()) {
      v1::GatewayChargeRecord c = **charge;
      c.set_refunded_minor(c.refunded_minor() + rec.amount_minor());
      Write(view, kChargePrefix + charge_id, c);
    }
    rec.set_state(v1::REFUND_STATE_DONE);
    Write(view, kRefundPrefix + refund_id, rec);
    return StepOutcome::Done();
  }
};

class GatewayAdmin final : public v1::GatewayAdmin::CallbackService {
 public:
  explicit GatewayAdmin(storage::BranchStore& store) : store_(store) {}

  grpc::ServerUnaryReactor* ListCharges(grpc::CallbackServerContext* context,
                                        const v1::ListChargesRequest* request,
                                        v1::ListChargesResponse* response) override {
    auto* reactor = context->DefaultReactor();
    auto next = ScanPage(store_, kChargePrefix, request->page_token(), request->page_size(),
                         [response](const std::string& value) {
                           response->add_charges()->ParseFromString(value);
                         });
    if (next.ok()) response->set_next_page_token(*next);
    reactor->Finish(ToGrpcStatus(next.status()));
    return reactor;
  }

  grpc::ServerUnaryReactor* ListRefunds(grpc::CallbackServerContext* context,
                                        const v1::ListRefundsRequest* request,
                                        v1::ListRefundsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    auto next = ScanPage(store_, kRefundPrefix, request->page_token(), request->page_size(),
                         [response](const std::string& value) {
                           response->add_refunds()->ParseFromString(value);
                         });
    if (next.ok()) response->set_next_page_token(*next);
    reactor->Finish(ToGrpcStatus(next.status()));
    return reactor;
  }

  grpc::ServerUnaryReactor* Configure(grpc::CallbackServerContext* context,
                                      const v1::GatewayConfig* request,
                                      v1::GatewayConfig* response) override {
    auto* reactor = context->DefaultReactor();
    if (request->refund_delay_micros() < 0) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "refund_delay_micros must be >= 0"));
      return reactor;
    }
    store_.Submit(
        [request](storage::WorkView& view) {
          Write(view, kConfigKey, *request);
          return true;
        },
        [reactor, request, response](absl::Status s) {
          if (s.ok()) *response = *request;
          reactor->Finish(ToGrpcStatus(s));
        });
    return reactor;
  }

 private:
  storage::BranchStore& store_;
};

}  // namespace

ReferenceParticipant MakeGateway(storage::BranchStore& store) {
  return {std::make_unique<GatewayTwoPhase>(), std::make_unique<GatewayAdmin>(store),
          std::make_unique<GatewayHandler>()};
}

}  // namespace settle::participants
