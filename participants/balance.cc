// balance: accounts with available and held amounts, in integer minor units.

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "participants/balance_rules.h"
#include "participants/reference.h"
#include "proto/status_mapping.h"
#include "settle/v1/reference.grpc.pb.h"

namespace settle::participants {
namespace {

using storage::Space;

std::string AccountKey(const std::string& account) { return "acct/" + account; }

absl::StatusOr<std::optional<v1::Account>> ReadAccount(storage::WorkView& view,
                                                       const std::string& account) {
  auto raw = view.Get(Space::kData, AccountKey(account));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::nullopt;
  v1::Account acct;
  if (!acct.ParseFromString(**raw)) {
    return absl::DataLossError(absl::StrCat("account ", account, " is unreadable"));
  }
  return std::optional<v1::Account>(std::move(acct));
}

void WriteAccount(storage::WorkView& view, const v1::Account& acct) {
  view.Put(Space::kData, AccountKey(acct.account()), acct.SerializeAsString());
}

class BalanceHandler final : public sdk::BranchHandler {
 public:
  sdk::Vote Prepare(const sdk::BranchContext&, const std::string& payload,
                    storage::WorkView& view) override {
    v1::BalancePayload p;
    if (!p.ParseFromString(payload)) return sdk::Vote::No("payload is not a BalancePayload");
    if (std::string why = CheckPostings(p); !why.empty()) return sdk::Vote::No(why);
    for (int i = 0; i < p.postings_size(); ++i) {
      const v1::BalancePosting& posting = p.postings(i);
      auto acct = ReadAccount(view, posting.account());
      if (!acct.ok()) return sdk::Vote::No(std::string(acct.status().message()));
      if (!acct->has_value()) {
        return sdk::Vote::No(absl::StrCat("postings[", i, "].account: unknown account ",
                                          Echo(posting.account())));
      }
      v1::Account& a = **acct;
      if (posting.amount_minor() < 0) {
        const int64_t debit = -posting.amount_minor();
        if (a.available_minor() < debit) {
          return sdk::Vote::No(absl::StrCat("insufficient funds in ", a.account(), ": available ",
                                            a.available_minor(), ", needed ", debit));
        }
        a.set_available_minor(a.available_minor() - debit);
        a.set_held_minor(a.held_minor() + debit);
        WriteAccount(view, a);
      } else if (a.available_minor() >
                 std::numeric_limits<int64_t>::max() / 2 - posting.amount_minor()) {
        return sdk::Vote::No(absl::StrCat("credit to ", a.account(), " would overflow"));
      }
    }
    return sdk::Vote::Yes();
  }

  absl::Status Commit(const sdk::BranchContext& ctx, const std::string& payload,
                      storage::WorkView& view) override {
    return Settle(payload, view, /*commit=*/true);
  }
  absl::Status Abort(const sdk::BranchContext& ctx, const std::string& payload,
                     storage::WorkView& view) override {
    return Settle(payload, view, /*commit=*/false);
  }

 private:
  // Commit: held debits leave, credits arrive. Abort: held debits return to available.
  static absl::Status Settle(const std::string& payload, storage::WorkView& view, bool commit) {
    v1::BalancePayload p;
    if (!p.ParseFromString(payload)) return absl::DataLossError("prepared payload is unreadable");
    for (const auto& posting : p.postings()) {
      auto acct = ReadAccount(view, posting.account());
      if (!acct.ok()) return acct.status();
      if (!acct->has_value()) {
        return absl::DataLossError(absl::StrCat("prepared account ", posting.account(), " vanished"));
      }
      v1::Account& a = **acct;
      if (posting.amount_minor() < 0) {
        const int64_t debit = -posting.amount_minor();
        a.set_held_minor(a.held_minor() - debit);
        if (!commit) a.set_available_minor(a.available_minor() + debit);
      } else if (commit) {
        a.set_available_minor(a.available_minor() + posting.amount_minor());
      } else {
        continue;
      }
      WriteAccount(view, a);
    }
    return absl::OkStatus();
  }
};

class BalanceAdmin final : public v1::BalanceAdmin::CallbackService {
 public:
  explicit BalanceAdmin(storage::BranchStore& store) : store_(store) {}

  grpc::ServerUnaryReactor* OpenAccount(grpc::CallbackServerContext* context,
                                        const v1::OpenAccountRequest* request,
                                        v1::Account* response) override {
    auto* reactor = context->DefaultReactor();
    if (absl::Status s = CheckOpenAccount(*request); !s.ok()) {
      reactor->Finish(ToGrpcStatus(s));
      return reactor;
    }
    auto result = std::make_shared<absl::Status>();
    store_.Submit(
        [request, response, result](storage::WorkView& view) {
          *result = absl::OkStatus();  // A SQL store may run the unit again.
          auto existing = ReadAccount(view, request->account());
          if (!existing.ok()) {
            *result = existing.status();
            return false;
          }
          if (existing->has_value()) {
            *result = absl::AlreadyExistsError(
                absl::StrCat("account ", request->account(), " already exists"));
            return false;
          }
          response->set_account(request->account());
          response->set_available_minor(request->initial_minor());
          WriteAccount(view, *response);
          return true;
        },
        [reactor, result](absl::Status s) { reactor->Finish(ToGrpcStatus(s.ok() ? *result : s)); });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const v1::GetAccountRequest* request,
                                       v1::Account* response) override {
    auto* reactor = context->DefaultReactor();
    auto raw = store_.Get(Space::kData, AccountKey(request->account()));
    if (!raw.ok()) {
      reactor->Finish(ToGrpcStatus(raw.status()));
    } else if (!raw->has_value()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                   absl::StrCat("account: no account ", Echo(request->account()))));
    } else {
      response->ParseFromString(**raw);
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* ListAccounts(grpc::CallbackServerContext* context,
                                         const v1::ListAccountsRequest*,
                                         v1::ListAccountsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    absl::Status s = store_.Scan(Space::kData, "acct/", "",
                                 [response](const std::string&, const std::string& value) {
                                   response->add_accounts()->ParseFromString(value);
                                   return true;
                                 });
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }

 private:
  storage::BranchStore& store_;
};

}  // namespace

std::string CheckPostings(const v1::BalancePayload& p) {
  if (p.postings_size() < 1 || p.postings_size() > 64) {
    return "a balance payload needs 1 to 64 postings";
  }
  for (int i = 0; i < p.postings_size(); ++i) {
    const int64_t amount = p.postings(i).amount_minor();
    // Bounded before any arithmetic: negating INT64_MIN overflows into a "debit" that passes
    // every funds check.
    if (amount == 0 || amount < -kMaxAmountMinor || amount > kMaxAmountMinor) {
      return absl::StrCat("postings[", i, "].amount_minor ", amount,
                          " is out of range: it must be non-zero and at most ", kMaxAmountMinor,
                          " either way");
    }
  }
  return "";
}

absl::Status CheckOpenAccount(const v1::OpenAccountRequest& request) {
  if (request.account().empty() || request.account().size() > 64) {
    return absl::InvalidArgumentError("account must be 1 to 64 bytes");
  }
  if (request.initial_minor() < 0 || request.initial_minor() > kMaxAmountMinor) {
    return absl::InvalidArgumentError(absl::StrCat("initial_minor must be 0 to ", kMaxAmountMinor));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReverseBalance(const std::string& payload) {
  v1::BalancePayload p;
  if (!p.ParseFromString(payload)) return absl::InvalidArgumentError("payload is not a BalancePayload");
  for (auto& posting : *p.mutable_postings()) posting.set_amount_minor(-posting.amount_minor());
  return p.SerializeAsString();
}

ReferenceParticipant MakeBalance(storage::BranchStore& store) {
  auto handler = std::make_unique<BalanceHandler>();
  auto saga = std::make_unique<sdk::ReversibleSaga>(*handler, ReverseBalance);
  return {std::move(handler), std::make_unique<BalanceAdmin>(store), std::move(saga)};
}

absl::StatusOr<ReferenceParticipant> MakeReference(const std::string& kind,
                                                   storage::BranchStore& store) {
  if (kind == "balance") return MakeBalance(store);
  if (kind == "ledger") return MakeLedger(store);
  if (kind == "notification") return MakeNotification(store);
  if (kind == "gateway") return MakeGateway(store);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown participant kind '", kind, "': use balance, ledger, notification or gateway"));
}

absl::StatusOr<std::string> ScanPage(const storage::BranchStore& store, const std::string& prefix,
                                     const std::string& page_token, int page_size,
                                     const std::function<void(const std::string&)>& add) {
  if (page_size < 0 || page_size > 1000) {
    return absl::InvalidArgumentError("page_size is out of range: use 1 to 1000");
  }
  const int limit = page_size == 0 ? 1000 : page_size;
  if (!page_token.empty() && page_token.rfind(prefix, 0) != 0) {
    return absl::InvalidArgumentError("page_token was not returned by this service");
  }
  int n = 0;
  std::string last, next;
  absl::Status s = store.Scan(Space::kData, prefix, page_token.empty() ? "" : page_token + '\0',
                              [&](const std::string& key, const std::string& value) {
                                if (n == limit) {
                                  next = last;
                                  return false;
                                }
                                add(value);
                                last = key;
                                ++n;
                                return true;
                              });
  if (!s.ok()) return s;
  return next;
}

absl::StatusOr<uint64_t> NextSequence(storage::WorkView& view, const std::string& key) {
  auto raw = view.Get(Space::kData, key);
  if (!raw.ok()) return raw.status();
  uint64_t seq = 0;
  if (raw->has_value() && !absl::SimpleAtoi(**raw, &seq)) {
    return absl::DataLossError(absl::StrCat("counter ", key, " is unreadable"));
  }
  ++seq;
  view.Put(Space::kData, key, absl::StrCat(seq));
  return seq;
}

}  // namespace settle::participants
