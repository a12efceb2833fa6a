#include "storage/postgres/pg_branch_store.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "storage/postgres/pg_conn.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_view.h"

namespace settle::storage {
namespace {

using pg::Conn;
using pg::Param;

constexpr int kScanPage = 512;

class PgBranchStore final : public BranchStore {
 public:
  PgBranchStore(PgStoreOptions options, std::unique_ptr<Conn> query)
      : options_(std::move(options)), query_(std::move(query)) {
    for (int i = 0; i < options_.pool_size; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  }
  ~PgBranchStore() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (std::thread& t : workers_) t.join();  // Each drains the queue before it stops.
  }
  PgBranchStore(const PgBranchStore&) = delete;
  PgBranchStore& operator=(const PgBranchStore&) = delete;

  void Submit(Work work, Done done) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    queue_.push_back({std::move(work), std::move(done)});
  }

  absl::StatusOr<std::optional<std::string>> Get(Space space, const std::string& key) const override
      ABSL_LOCKS_EXCLUDED(query_mu_);
  absl::Status Scan(Space space, const std::string& prefix, const std::string& from,
                    const std::function<bool(const std::string&, const std::string&)>& visit)
      const override ABSL_LOCKS_EXCLUDED(query_mu_);
  absl::StatusOr<std::vector<std::string>> FinishedBarriers(absl::Time cutoff,
                                                            int max) const override
      ABSL_LOCKS_EXCLUDED(query_mu_);

  // Connects with the session settings every connection of the store has.
  static absl::StatusOr<std::unique_ptr<Conn>> Connect(const PgStoreOptions& options) {
    auto conn = Conn::Open(options.dsn);
    if (!conn.ok()) return conn.status();
    auto set = (*conn)->Exec(absl::StrFormat(
        "SET lock_timeout = %d; SET default_transaction_isolation = 'read committed'",
        std::max<int64_t>(1, absl::ToInt64Milliseconds(options.lock_timeout))));
    if (!set.ok()) return set.status();
    return conn;
  }

 private:
  struct Unit {
    Work work;
    Done done;
  };

  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status RunUnit(std::unique_ptr<Conn>& conn, const Work& work);
  absl::Status QueryLocked(const std::string& sql, const std::vector<Param>& params,
                           const std::vector<int>& bytea_columns, SqlResult* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(query_mu_);

  const PgStoreOptions options_;
  // Committed reads (Get, Scan) have a connection of their own: a unit's Work may call them, and
  // must not wait for a pool connection held by its own worker.
  mutable absl::Mutex query_mu_ ABSL_ACQUIRED_AFTER(mu_);
  mutable std::unique_ptr<Conn> query_ ABSL_GUARDED_BY(query_mu_);

  absl::Mutex mu_;
  std::deque<Unit> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;  // Last: they use everything above.
};

void PgBranchStore::WorkerLoop() {
  std::unique_ptr<Conn> conn;  // This worker's; opened when first needed, again after it broke.
  for (;;) {
    Unit unit;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](PgBranchStore* s)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return s->stop_ || !s->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // Stopping, and nothing left to run.
      unit = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status s = RunUnit(conn, unit.work);
    if (!s.ok() && s.code() != absl::StatusCode::kUnavailable) {
      s = absl::UnavailableError(s.message());  // Done's contract: nothing was persisted.
    }
    unit.done(std::move(s));
  }
}

absl::Status PgBranchStore::RunUnit(std::unique_ptr<Conn>& conn, const Work& work) {
  absl::Status last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (conn == nullptr || !conn->ok()) {
      conn.reset();
      auto fresh = Connect(options_);
      if (!fresh.ok()) return fresh.status();
      conn = std::move(*fresh);
    }
    absl::Status s = conn->Exec("BEGIN").status();
    if (!s.ok()) return s;
    pg::PgView view(*conn);
    const bool keep = work(view);
    s = view.failure();
    if (s.ok() && conn->InFailedTransaction()) {
      // Every statement's error is recorded by the view; this only guards that rule, since
      // PostgreSQL answers the COMMIT of a failed transaction with a successful ROLLBACK.
      s = absl::InternalError("a statement failed unnoticed; the unit was rolled back");
    }
    if (s.ok() && keep && view.wrote_barrier() && options_.before_commit_ForTest) {
      options_.before_commit_ForTest();
    }
    if (s.ok()) {
      // A COMMIT that fails with the connection leaves the outcome unknown to us: UNAVAILABLE,
      // and the coordinator's retry meets the barrier, which gives one effect either way.
      s = conn->Exec(keep ? "COMMIT" : "ROLLBACK").status();
      if (s.ok()) return s;
    } else {
      conn->Exec("ROLLBACK").IgnoreError();
    }
    if (!pg::Retryable(s)) return s;
    last = s;
  }
  return absl::UnavailableError(absl::StrCat("a unit of work was rolled back ",
                                             options_.max_attempts,
                                             " times by conflicts; last: ", last.message()));
}

absl::Status PgBranchStore::QueryLocked(const std::string& sql, const std::vector<Param>& params,
                                        const std::vector<int>& bytea_columns,
                                        SqlResult* out) const {
  if (query_ == nullptr || !query_->ok()) {
    query_.reset();
    auto fresh = Connect(options_);
    if (!fresh.ok()) return fresh.status();
    query_ = std::move(*fresh);
  }
  auto r = query_->Exec(sql, params, bytea_columns);
  if (!r.ok()) return r.status();
  *out = std::move(*r);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> PgBranchStore::Get(Space space,
                                                              const std::string& key) const {
  absl::MutexLock lock(&query_mu_);
  SqlResult r;
  if (space == Space::kBarrier) {
    std::string txn, branch;
    if (!pg::SplitBarrierKey(key, &txn, &branch)) return std::nullopt;
    absl::Status s =
        QueryLocked(absl::StrCat("SELECT ", pg::kBarrierColumns,
                                 " FROM settle_barrier WHERE txn_id = $1 AND branch_id = $2"),
                    {Param::Text(txn), Param::Text(branch)}, {pg::kBarrierPayloadColumn}, &r);
    if (!s.ok()) return s;
    if (r.rows.empty()) return std::nullopt;
    auto rec = pg::RecordFromRow(r.rows[0], 0, key);
    if (!rec.ok()) return rec.status();
    return std::optional<std::string>(std::move(*rec));
  }
  absl::Status s =
      QueryLocked("SELECT value FROM settle_kv WHERE space = $1 AND key = $2",
                  {Param::Text(absl::StrCat(static_cast<int>(space))), Param::Bytes(key)}, {0}, &r);
  if (!s.ok()) return s;
  if (r.rows.empty()) return std::nullopt;
  return r.rows[0][0];
}

absl::Status PgBranchStore::Scan(
    Space space, const std::string& prefix, const std::string& from,
    const std::function<bool(const std::string&, const std::string&)>& visit) const {
  const std::string start = std::max(prefix, from);
  // Keyset pages; the lock is taken per page, so a visitor may call Get.
  if (space != Space::kBarrier) {
    std::string after = start;
    bool inclusive = true;
    for (;;) {
      SqlResult r;
      {
        absl::MutexLock lock(&query_mu_);
        absl::Status s = QueryLocked(
            absl::StrCat("SELECT key, value FROM settle_kv WHERE space = $1 AND key ",
                         inclusive ? ">=" : ">", " $2 ORDER BY key LIMIT ", kScanPage),
            {Param::Text(absl::StrCat(static_cast<int>(space))), Param::Bytes(after)}, {0, 1}, &r);
        if (!s.ok()) return s;
      }
      for (auto& row : r.rows) {
        if (!absl::StartsWith(*row[0], prefix)) return absl::OkStatus();
        if (!visit(*row[0], *row[1])) return absl::OkStatus();
        after = *row[0];
      }
      if (static_cast<int>(r.rows.size()) < kScanPage) return absl::OkStatus();
      inclusive = false;
    }
  }
  // Barrier keys are "<txn_id>/<branch_id, 5 digits>" and txn ids are "<shard>-<16 hex>", so the
  // order of (txn_id, branch_id) is the order of keys: start at the txn id the start key names.
  std::string txn = start.substr(0, start.find('/'));
  int64_t branch = -1;
  for (;;) {
    SqlResult r;
    {
      absl::MutexLock lock(&query_mu_);
      absl::Status s =
          QueryLocked(absl::StrCat("SELECT txn_id, branch_id, ", pg::kBarrierColumns,
                                   " FROM settle_barrier WHERE (txn_id, branch_id) > ($1, $2) "
                                   "ORDER BY txn_id, branch_id LIMIT ",
                                   kScanPage),
                      {Param::Text(txn), Param::Text(absl::StrCat(branch))},
                      {2 + pg::kBarrierPayloadColumn}, &r);
      if (!s.ok()) return s;
    }
    for (auto& row : r.rows) {
      txn = *row[0];
      if (!absl::SimpleAtoi(*row[1], &branch)) branch = 0;
      const std::string key = absl::StrFormat("%s/%05d", txn, branch);
      if (key < start) continue;
      if (!absl::StartsWith(key, prefix)) return absl::OkStatus();
      auto rec = pg::RecordFromRow(row, 2, key);
      if (!rec.ok()) return rec.status();
      if (!visit(key, *rec)) return absl::OkStatus();
    }
    if (static_cast<int>(r.rows.size()) < kScanPage) return absl::OkStatus();
  }
}

absl::StatusOr<std::vector<std::string>> PgBranchStore::FinishedBarriers(absl::Time cutoff,
                                                                         int max) const {
  SqlResult r;
  {
    absl::MutexLock lock(&query_mu_);
    // The partial index settle_barrier_finished answers this without reading prepared rows.
    absl::Status s = QueryLocked(
        "SELECT txn_id, branch_id FROM settle_barrier WHERE state IN ('committed', 'aborted') "
        "AND updated_micros < $1 ORDER BY updated_micros LIMIT $2",
        {Param::Text(absl::StrCat(absl::ToUnixMicros(cutoff))), Param::Text(absl::StrCat(max))}, {},
        &r);
    if (!s.ok()) return s;
  }
  std::vector<std::string> keys;
  for (const auto& row : r.rows) {
    int64_t branch = 0;
    if (!absl::SimpleAtoi(row[1].value_or(""), &branch)) continue;
    keys.push_back(absl::StrFormat("%s/%05d", row[0].value_or(""), branch));
  }
  return keys;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BranchStore>> OpenPgBranchStore(const PgStoreOptions& options) {
  if (options.pool_size < 1 || options.pool_size > 256) {
    return absl::InvalidArgumentError(absl::StrCat("--pg_pool_size ", options.pool_size,
                                                   " is out of range: use 1 to 256 connections"));
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("max_attempts must be at least 1");
  }
  auto conn = PgBranchStore::Connect(options);
  if (!conn.ok()) return conn.status();
  if (absl::Status s = pg::EnsureSchema(**conn); !s.ok()) return s;
  return std::make_unique<PgBranchStore>(options, std::move(*conn));
}

}  // namespace settle::storage
