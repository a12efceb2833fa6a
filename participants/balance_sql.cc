// balance on PostgreSQL: the same accounts, rules and admin API as balance.cc, kept in a SQL
// table of the service's own database. Every statement runs in the unit's SQL transaction
// (WorkView::sql()), beside the SDK's barrier row: both commit or neither does.

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

using Row = std::vector<std::optional<std::string>>;

// Holds can never make a figure negative: the CHECKs catch a bug, not a business refusal.
constexpr char kAccountsDdl[] = R"sql(
CREATE TABLE IF NOT EXISTS balance_accounts (
  account         text PRIMARY KEY,
  available_minor bigint NOT NULL CHECK (available_minor >= 0),
  held_minor      bigint NOT NULL DEFAULT 0 CHECK (held_minor >= 0)
))sql";

storage::SqlTxn* Sql(storage::WorkView& view) { return view.sql(); }

absl::Status Run(storage::SqlTxn& sql, const std::string& statement,
                 std::vector<std::optional<std::string>> params) {
  return sql.Exec(statement, params).status();
}

v1::Account AccountFromRow(const Row& row) {
  v1::Account a;
  int64_t available = 0, held = 0;
  a.set_account(row[0].value_or(""));
  if (row[1].has_value() && absl::SimpleAtoi(*row[1], &available)) a.set_available_minor(available);
  if (row[2].has_value() && absl::SimpleAtoi(*row[2], &held)) a.set_held_minor(held);
  return a;
}

constexpr char kSelectAccount[] =
    "SELECT account, available_minor, held_minor FROM balance_accounts WHERE account = $1";

// A debit that cannot be held: why, naming the posting.
sdk::Vote RefuseDebit(storage::SqlTxn& sql, int i, const v1::BalancePosting& posting) {
  auto r = sql.Exec(kSelectAccount, {posting.account()});
  if (!r.ok()) return sdk::Vote::No(std::string(r.status().message()));
  if (r->rows.empty()) {
    return sdk::Vote::No(
        absl::StrCat("postings[", i, "].account: unknown account ", Echo(posting.account())));
  }
  const v1::Account a = AccountFromRow(r->rows[0]);
  return sdk::Vote::No(absl::StrCat("insufficient funds in ", a.account(), ": available ",
                                    a.available_minor(), ", needed ", -posting.amount_minor()));
}

class SqlBalanceHandler final : public sdk::BranchHandler {
 public:
  sdk::Vote Prepare(const sdk::BranchContext&, const std::string& payload,
                    storage::WorkView& view) override {
    storage::SqlTxn* sql = Sql(view);
    if (sql == nullptr) return sdk::Vote::No("balance on PostgreSQL runs on a PostgreSQL store");
    v1::BalancePayload p;
    if (!p.ParseFromString(payload)) return sdk::Vote::No("payload is not a BalancePayload");
    if (std::string why = CheckPostings(p); !why.empty()) return sdk::Vote::No(why);
    for (int i = 0; i < p.postings_size(); ++i) {
      const v1::BalancePosting& posting = p.postings(i);
      if (posting.amount_minor() < 0) {
        // The condition is the funds check: the row lock makes it exact under concurrency.
        auto r = sql->Exec(
            "UPDATE balance_accounts SET available_minor = available_minor - $2, held_minor = "
            "held_minor + $2 WHERE account = $1 AND available_minor >= $2",
            {posting.account(), absl::StrCat(-posting.amount_minor())});
        if (!r.ok()) return sdk::Vote::No(std::string(r.status().message()));
        if (r->affected != 1) return RefuseDebit(*sql, i, posting);
        continue;
      }
      auto r = sql->Exec(kSelectAccount, {posting.account()});
      if (!r.ok()) return sdk::Vote::No(std::string(r.status().message()));
      if (r->rows.empty()) {
        return sdk::Vote::No(
            absl::StrCat("postings[", i, "].account: unknown account ", Echo(posting.account())));
      }
      if (AccountFromRow(r->rows[0]).available_minor() >
          std::numeric_limits<int64_t>::max() / 2 - posting.amount_minor()) {
        return sdk::Vote::No(absl::StrCat("credit to ", posting.account(), " would overflow"));
      }
    }
    return sdk::Vote::Yes();
  }

  absl::Status Commit(const sdk::BranchContext&, const std::string& payload,
                      storage::WorkView& view) override {
    return Settle(payload, view, /*commit=*/true);
  }
  absl::Status Abort(const sdk::BranchContext&, const std::string& payload,
                     storage::WorkView& view) override {
    return Settle(payload, view, /*commit=*/false);
  }

 private:
  // Commit: held debits leave, credits arrive. Abort: held debits return to available.
  static absl::Status Settle(const std::string& payload, storage::WorkView& view, bool commit) {
    storage::SqlTxn* sql = Sql(view);
    if (sql == nullptr) return absl::FailedPreconditionError("not a PostgreSQL store");
    v1::BalancePayload p;
    if (!p.ParseFromString(payload)) return absl::DataLossError("prepared payload is unreadable");
    for (const auto& posting : p.postings()) {
      const std::string amount = absl::StrCat(std::abs(posting.amount_minor()));
      const char* statement =
          posting.amount_minor() < 0
              ? (commit ? "UPDATE balance_accounts SET held_minor = held_minor - $2 "
                          "WHERE account = $1"
                        : "UPDATE balance_accounts SET held_minor = held_minor - $2, "
                          "available_minor = available_minor + $2 WHERE account = $1")
              : (commit ? "UPDATE balance_accounts SET available_minor = available_minor + $2 "
                          "WHERE account = $1"
                        : nullptr);
      if (statement == nullptr) continue;
      auto r = sql->Exec(statement, {posting.account(), amount});
      if (!r.ok()) return r.status();
      if (r->affected != 1) {
        return absl::DataLossError(
            absl::StrCat("prepared account ", posting.account(), " vanished"));
      }
    }
    return absl::OkStatus();
  }
};

// The admin API over the same table; each call one unit of work (one SQL transaction).
class SqlBalanceAdmin final : public v1::BalanceAdmin::CallbackService {
 public:
  explicit SqlBalanceAdmin(storage::BranchStore& store) : store_(store) {}

  grpc::ServerUnaryReactor* OpenAccount(grpc::CallbackServerContext* context,
                                        const v1::OpenAccountRequest* request,
                                        v1::Account* response) override {
    if (absl::Status s = CheckOpenAccount(*request); !s.ok()) return Finish(context, s);
    return InUnit(context, [request, response](storage::SqlTxn& sql) -> absl::Status {
      auto r = sql.Exec(
          "INSERT INTO balance_accounts (account, available_minor) VALUES ($1, $2) "
          "ON CONFLICT DO NOTHING",
          {request->account(), absl::StrCat(request->initial_minor())});
      if (!r.ok()) return r.status();
      if (r->affected != 1) {
        return absl::AlreadyExistsError(
            absl::StrCat("account ", Echo(request->account()), " already exists"));
      }
      response->set_account(request->account());
      response->set_available_minor(request->initial_minor());
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const v1::GetAccountRequest* request,
                                       v1::Account* response) override {
    return InUnit(context, [request, response](storage::SqlTxn& sql) -> absl::Status {
      auto r = sql.Exec(kSelectAccount, {request->account()});
      if (!r.ok()) return r.status();
      if (r->rows.empty()) {
        return absl::NotFoundError(absl::StrCat("account: no account ", Echo(request->account())));
      }
      *response = AccountFromRow(r->rows[0]);
      return absl::OkStatus();
    });
  }

  grpc::ServerUnaryReactor* ListAccounts(grpc::CallbackServerContext* context,
                                         const v1::ListAccountsRequest*,
                                         v1::ListAccountsResponse* response) override {
    return InUnit(context, [response](storage::SqlTxn& sql) -> absl::Status {
      auto r = sql.Exec(
          "SELECT account, available_minor, held_minor FROM balance_accounts ORDER BY account "
          "LIMIT 10000",
          {});
      if (!r.ok()) return r.status();
      for (const Row& row : r->rows) *response->add_accounts() = AccountFromRow(row);
      return absl::OkStatus();
    });
  }

 private:
  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, absl::Status s) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }

  // Runs `body` in one SQL transaction on the store's pool, never on the gRPC thread.
  template <typename Body>
  grpc::ServerUnaryReactor* InUnit(grpc::CallbackServerContext* context, Body body) {
    auto* reactor = context->DefaultReactor();
    auto result = std::make_shared<absl::Status>();
    store_.Submit(
        [body = std::move(body), result](storage::WorkView& view) {
          storage::SqlTxn* sql = Sql(view);
          *result =
              sql == nullptr ? absl::FailedPreconditionError("not a PostgreSQL store") : body(*sql);
          return result->ok();
        },
        [reactor, result](absl::Status s) { reactor->Finish(ToGrpcStatus(s.ok() ? *result : s)); });
    return reactor;
  }

  storage::BranchStore& store_;
};

}  // namespace

absl::StatusOr<ReferenceParticipant> MakeSqlBalance(storage::BranchStore& store) {
  absl::Status ddl;
  absl::Status created = store.SubmitAndWait([&ddl](storage::WorkView& view) {
    ddl = Sql(view) == nullptr
              ? absl::InvalidArgumentError("balance on PostgreSQL needs --store=postgres://...")
              : Run(*Sql(view), kAccountsDdl, {});
    return ddl.ok();
  });
  if (created.ok()) created = ddl;
  if (!created.ok()) return created;
  auto handler = std::make_unique<SqlBalanceHandler>();
  auto saga = std::make_unique<sdk::ReversibleSaga>(*handler, ReverseBalance);
  return ReferenceParticipant{std::move(handler), std::make_unique<SqlBalanceAdmin>(store),
                              std::move(saga)};
}

}  // namespace settle::participants
