#include "storage/postgres/pg_conn.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "libpq-fe.h"

namespace settle::storage::pg {
namespace {

// libpq's messages end in a newline and may run long: one line, bounded.
std::string Trimmed(const char* message) {
  absl::string_view m = message == nullptr ? "" : message;
  m = absl::StripTrailingAsciiWhitespace(m);
  if (m.size() > 300) m = m.substr(0, 300);
  return std::string(m);
}

absl::Status FromResult(PGconn* conn, const PGresult* res, const std::string& what) {
  const char* state = res == nullptr ? nullptr : PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state == nullptr ? "" : state;
  const std::string message =
      absl::StrCat(what, ": ", Trimmed(res != nullptr ? PQresultErrorMessage(res) : nullptr),
                   sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")"));
  if (PQstatus(conn) != CONNECTION_OK || sqlstate.empty()) {
    return absl::UnavailableError(absl::StrCat(
        what, ": the connection to PostgreSQL is lost: ", Trimmed(PQerrorMessage(conn))));
  }
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::AbortedError(message);
  // 08: connection exception; 57P: operator intervention (shutdown); 53: insufficient
  // resources; 55P03: lock_timeout. All pass when the database does.
  if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P") ||
      absl::StartsWith(sqlstate, "53") || sqlstate == "55P03") {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// Statements' notices (e.g. "relation already exists, skipping") are not our log's business.
void IgnoreNotice(void*, const char*) {}

}  // namespace

absl::Status CheckDsn(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    // libpq's message names the bad part; the DSN itself may hold a password, so no echo.
    std::string why = err != nullptr ? Trimmed(err) : "out of memory";
    PQfreemem(err);
    return absl::InvalidArgumentError(
        absl::StrCat("--store: the PostgreSQL connection string does not parse: ", why));
  }
  PQconninfoFree(opts);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Conn>> Conn::Open(const std::string& dsn) {
  if (absl::Status s = CheckDsn(dsn); !s.ok()) return s;
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq cannot allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string why = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    // PQping tells a server that answered (and refused us) from no server at all, without
    // reading the message's text.
    switch (PQping(dsn.c_str())) {
      case PQPING_OK:
        return absl::PermissionDeniedError(
            absl::StrCat("PostgreSQL refused the connection (login, password or database): ", why));
      case PQPING_NO_ATTEMPT:  // A value libpq refuses before it tries (sslmode=sometimes).
        return absl::InvalidArgumentError(
            absl::StrCat("--store: the PostgreSQL connection string is not valid: ", why));
      default:
        break;
    }
    return absl::UnavailableError(absl::StrCat("PostgreSQL cannot be reached: ", why));
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  return std::unique_ptr<Conn>(new Conn(conn));
}

Conn::~Conn() { PQfinish(conn_); }

bool Conn::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

bool Conn::InFailedTransaction() const { return PQtransactionStatus(conn_) == PQTRANS_INERROR; }

absl::StatusOr<std::string> Conn::Prepared(const std::string& sql, int params) {
  constexpr size_t kMaxPrepared = 256;
  if (auto it = prepared_.find(sql); it != prepared_.end()) return it->second;
  if (prepared_.size() >= kMaxPrepared) return std::string();
  std::string name = absl::StrCat("settle_", prepared_.size());
  PGresult* res = PQprepare(conn_, name.c_str(), sql.c_str(), params, nullptr);
  std::unique_ptr<PGresult, void (*)(PGresult*)> hold(res, PQclear);
  if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
    return FromResult(conn_, res, "a PostgreSQL statement failed");
  }
  prepared_.emplace(sql, name);
  return name;
}

absl::StatusOr<SqlResult> Conn::Exec(const std::string& sql, const std::vector<Param>& params,
                                     const std::vector<int>& bytea_columns) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const Param& p : params) {
    values.push_back(p.value.has_value() ? p.value->data() : nullptr);
    lengths.push_back(p.value.has_value() ? static_cast<int>(p.value->size()) : 0);
    formats.push_back(p.binary ? 1 : 0);
  }
  // Without parameters PQexec, which also runs a script of several statements (the schema).
  std::string name;
  if (!params.empty()) {
    auto prepared = Prepared(sql, static_cast<int>(params.size()));
    if (!prepared.ok()) return prepared.status();
    name = *prepared;
  }
  const int n = static_cast<int>(params.size());
  PGresult* res = params.empty() ? PQexec(conn_, sql.c_str())
                  : name.empty()
                      ? PQexecParams(conn_, sql.c_str(), n, nullptr, values.data(), lengths.data(),
                                     formats.data(), /*resultFormat=*/0)
                      : PQexecPrepared(conn_, name.c_str(), n, values.data(), lengths.data(),
                                       formats.data(), /*resultFormat=*/0);
  std::unique_ptr<PGresult, void (*)(PGresult*)> hold(res, PQclear);
  const ExecStatusType st = res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return FromResult(conn_, res, "a PostgreSQL statement failed");
  }
  SqlResult out;
  // Empty for statements that count no rows: then 0.
  if (!absl::SimpleAtoi(PQcmdTuples(res), &out.affected)) out.affected = 0;
  const int rows = PQntuples(res), cols = PQnfields(res);
  out.rows.resize(rows);
  for (int r = 0; r < rows; ++r) {
    out.rows[r].resize(cols);
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(res, r, c)) continue;
      const char* v = PQgetvalue(res, r, c);
      bool bytea = false;
      for (int b : bytea_columns) bytea = bytea || b == c;
      if (!bytea) {
        out.rows[r][c] = std::string(v, PQgetlength(res, r, c));
        continue;
      }
      size_t n = 0;
      unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &n);
      if (raw == nullptr) return absl::ResourceExhaustedError("cannot decode a bytea value");
      out.rows[r][c] = std::string(reinterpret_cast<char*>(raw), n);
      PQfreemem(raw);
    }
  }
  return out;
}

}  // namespace settle::storage::pg
