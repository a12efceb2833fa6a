#include "storage/postgres/pg_view.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/records.pb.h"

namespace settle::storage::pg {
namespace {

constexpr std::pair<BarrierStateRecord, const char*> kStates[] = {
    {BARRIER_PREPARED, "prepared"},
    {BARRIER_PRECOMMITTED, "precommitted"},
    {BARRIER_COMMITTED, "committed"},
    {BARRIER_ABORTED, "aborted"},
    {BARRIER_COMPENSATING, "compensating"}};

Param Micros(int64_t micros) {
  return micros == 0 ? Param::Null() : Param::Text(absl::StrCat(micros));
}

bool ParseMicros(const std::optional<std::string>& col, int64_t* out) {
  *out = 0;
  return !col.has_value() || absl::SimpleAtoi(*col, out);
}

// The barrier row's parameters $1..$9 for `rec`, or nullopt when `value` is not a record.
std::optional<std::vector<Param>> RowParams(const std::string& txn_id, const std::string& branch,
                                            const std::string& value) {
  BarrierRecord rec;
  if (!rec.ParseFromString(value)) return std::nullopt;
  const char* state = nullptr;
  for (const auto& [s, name] : kStates) state = s == rec.state() ? name : state;
  if (state == nullptr) return std::nullopt;
  std::string peers;
  for (const PeerRecord& p : rec.peers()) {
    absl::StrAppend(&peers, peers.empty() ? "" : " ", p.branch_id(), "=", p.endpoint());
  }
  return std::vector<Param>{Param::Text(txn_id),
                            Param::Text(branch),
                            Param::Text(state),
                            Param::Text(rec.tombstone() ? "t" : "f"),
                            rec.payload().empty() ? Param::Null() : Param::Bytes(rec.payload()),
                            Micros(rec.prepared_micros()),
                            Param::Text(absl::StrCat(rec.update_micros())),
                            Micros(rec.three_phase_timeout_micros()),
                            peers.empty() ? Param::Null() : Param::Text(peers)};
}

std::string SpaceNumber(Space space) { return absl::StrCat(static_cast<int>(space)); }

}  // namespace

bool SplitBarrierKey(const std::string& key, std::string* txn_id, std::string* branch_id) {
  const size_t slash = key.rfind('/');
  uint32_t branch = 0;
  if (slash == std::string::npos || slash == 0 ||
      !absl::SimpleAtoi(absl::string_view(key).substr(slash + 1), &branch)) {
    return false;
  }
  *txn_id = key.substr(0, slash);
  *branch_id = absl::StrCat(branch);
  return true;
}

absl::StatusOr<std::string> RecordFromRow(const std::vector<std::optional<std::string>>& row,
                                          size_t first, const std::string& key) {
  BarrierRecord rec;
  const auto& state = row[first];
  for (const auto& [s, name] : kStates) {
    if (state.has_value() && *state == name) rec.set_state(s);
  }
  int64_t prepared = 0, updated = 0, decide_by = 0;
  bool ok = rec.state() != BARRIER_UNKNOWN && ParseMicros(row[first + 3], &prepared) &&
            ParseMicros(row[first + 4], &updated) && ParseMicros(row[first + 5], &decide_by);
  rec.set_tombstone(row[first + 1] == "t");
  if (row[first + 2].has_value()) rec.set_payload(*row[first + 2]);
  rec.set_prepared_micros(prepared);
  rec.set_update_micros(updated);
  rec.set_three_phase_timeout_micros(decide_by);
  if (row[first + 6].has_value()) {
    for (absl::string_view peer : absl::StrSplit(*row[first + 6], ' ', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(peer, '=');
      PeerRecord* p = rec.add_peers();
      uint32_t id = 0;
      ok = ok && absl::SimpleAtoi(kv.first, &id) && !kv.second.empty();
      p->set_branch_id(id);
      p->set_endpoint(std::string(kv.second));
    }
  }
  if (!ok) return absl::DataLossError(absl::StrCat("barrier row ", key, " is unreadable"));
  return rec.SerializeAsString();
}

absl::StatusOr<SqlResult> PgView::Run(const std::string& sql, const std::vector<Param>& params,
                                      const std::vector<int>& bytea_columns) {
  if (!failure_.ok()) return failure_;
  auto r = conn_.Exec(sql, params, bytea_columns);
  if (!r.ok()) Fail(r.status());
  return r;
}

absl::StatusOr<SqlResult> PgView::Exec(const std::string& sql,
                                       const std::vector<std::optional<std::string>>& params) {
  std::vector<Param> p;
  for (const auto& v : params) p.push_back(v.has_value() ? Param::Text(*v) : Param::Null());
  return Run(sql, p);
}

std::optional<bool> PgView::Known(Space space, const std::string& key) const {
  auto it = exists_.find({space, key});
  if (it == exists_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::optional<std::string>> PgView::Get(Space space, const std::string& key) {
  // FOR UPDATE: what a unit reads stays as it read it until the unit ends.
  if (space == Space::kBarrier) {
    std::string txn, branch;
    if (!SplitBarrierKey(key, &txn, &branch)) {
      return absl::InvalidArgumentError(absl::StrCat("not a barrier key: ", key));
    }
    auto r = Run(absl::StrCat("SELECT ", kBarrierColumns,
                              " FROM settle_barrier WHERE txn_id = $1 AND branch_id = $2 "
                              "FOR UPDATE"),
                 {Param::Text(txn), Param::Text(branch)}, {kBarrierPayloadColumn});
    if (!r.ok()) return r.status();
    exists_[{space, key}] = !r->rows.empty();
    if (r->rows.empty()) return std::nullopt;
    auto rec = RecordFromRow(r->rows[0], 0, key);
    if (!rec.ok()) return rec.status();
    return std::optional<std::string>(std::move(*rec));
  }
  auto r = Run("SELECT value FROM settle_kv WHERE space = $1 AND key = $2 FOR UPDATE",
               {Param::Text(SpaceNumber(space)), Param::Bytes(key)}, {0});
  if (!r.ok()) return r.status();
  exists_[{space, key}] = !r->rows.empty();
  if (r->rows.empty()) return std::nullopt;
  return r->rows[0][0];
}

void PgView::Put(Space space, const std::string& key, const std::string& value) {
  const std::optional<bool> known = Known(space, key);
  std::vector<Param> params;
  std::string insert, update, upsert;
  if (space == Space::kBarrier) {
    std::string txn, branch;
    std::optional<std::vector<Param>> row;
    if (SplitBarrierKey(key, &txn, &branch)) row = RowParams(txn, branch, value);
    if (!row.has_value()) {
      return Fail(absl::InternalError(absl::StrCat("not a barrier record for key ", key)));
    }
    params = std::move(*row);
    const std::string values =
        absl::StrCat("INSERT INTO settle_barrier (txn_id, branch_id, ", kBarrierColumns,
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT ");
    insert = values + "DO NOTHING";
    upsert = values +
             "(txn_id, branch_id) DO UPDATE SET state = EXCLUDED.state, tombstone = "
             "EXCLUDED.tombstone, payload = EXCLUDED.payload, prepared_micros = "
             "EXCLUDED.prepared_micros, updated_micros = EXCLUDED.updated_micros, "
             "decide_by_micros = EXCLUDED.decide_by_micros, peers = EXCLUDED.peers";
    update =
        "UPDATE settle_barrier SET state = $3, tombstone = $4, payload = $5, prepared_micros = "
        "$6, updated_micros = $7, decide_by_micros = $8, peers = $9 "
        "WHERE txn_id = $1 AND branch_id = $2";
  } else {
    params = {Param::Text(SpaceNumber(space)), Param::Bytes(key), Param::Bytes(value)};
    insert = "INSERT INTO settle_kv VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    upsert =
        "INSERT INTO settle_kv VALUES ($1, $2, $3) ON CONFLICT (space, key) DO UPDATE SET "
        "value = EXCLUDED.value";
    update = "UPDATE settle_kv SET value = $3 WHERE space = $1 AND key = $2";
  }
  // A row this unit saw absent is inserted, and the count decides: none inserted means a
  // concurrent unit inserted it first (PostgreSQL waited for that one to commit), and this unit
  // runs again to see it. Never a caught unique violation: any error ends the SQL transaction.
  auto r = Run(!known.has_value() ? upsert : *known ? update : insert, params);
  if (!r.ok()) return;
  if (known.has_value() && r->affected != 1) {
    return Fail(absl::AbortedError(absl::StrCat(
        "row ", key, " was ", *known ? "removed" : "inserted", " by a concurrent unit of work")));
  }
  exists_[{space, key}] = true;
  wrote_barrier_ = wrote_barrier_ || space == Space::kBarrier;
}

void PgView::Delete(Space space, const std::string& key) {
  if (space == Space::kBarrier) {
    std::string txn, branch;
    if (!SplitBarrierKey(key, &txn, &branch)) return;  // No such row can exist.
    Run("DELETE FROM settle_barrier WHERE txn_id = $1 AND branch_id = $2",
        {Param::Text(txn), Param::Text(branch)})
        .IgnoreError();  // Recorded in failure_.
  } else {
    Run("DELETE FROM settle_kv WHERE space = $1 AND key = $2",
        {Param::Text(SpaceNumber(space)), Param::Bytes(key)})
        .IgnoreError();
  }
  exists_[{space, key}] = false;
}

}  // namespace settle::storage::pg
