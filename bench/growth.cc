#include "bench/growth.h"

#include <csignal>
#include <fstream>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "launch/http_get.h"
#include "storage/txn_id.h"
#include "storage/txn_log.h"

namespace settle::bench {
namespace {

constexpr char kShard[] = "s0";  // LocalStack's coordinator runs with the default shard.
constexpr int kSeedBatch = 5000;
constexpr absl::Duration kStopTimeout = absl::Seconds(30);
constexpr absl::Duration kResolveTimeout = absl::Minutes(5);

// Seeded transactions take ids from this counter on: two hours ago, so they are older than
// anything the coordinator makes and past a short retention.
uint64_t SeedBase() {
  return static_cast<uint64_t>(absl::ToUnixMicros(absl::Now() - absl::Hours(2)));
}

storage::TxnRecord SeedRecord(const Workload& workload, uint64_t counter, int64_t i,
                              storage::TxnStateRecord state) {
  storage::TxnRecord rec;
  rec.set_txn_id(storage::TxnIdFor(kShard, counter));
  rec.set_idempotency_key(absl::StrCat("growth-seed-", counter));
  rec.set_mode(storage::MODE_RECORD_TWO_PHASE);
  rec.set_state(state);
  rec.set_refused_branch(-1);
  const int64_t begin = static_cast<int64_t>(counter);
  rec.set_begin_micros(begin);
  rec.set_deadline_micros(begin + 5000000);
  const bool finished = state == storage::TXN_COMMITTED;
  if (finished) {
    rec.set_decision_micros(begin + 1500);
    rec.set_finish_micros(begin + 3000);
  }
  for (auto& b : workload.Branches(static_cast<uint64_t>(i))) {
    auto* br = rec.add_branches();
    br->set_participant(std::move(b.participant));
    br->set_payload(std::move(b.payload));
    br->set_state(finished ? storage::BRANCH_COMMITTED : storage::BRANCH_PENDING);
  }
  return rec;
}

// Writes transactions [from, to) into the stopped coordinator's log as it would have: a begin,
// and for finished ones the finish record.
absl::Status Seed(const std::string& dir, const Workload& workload, uint64_t base, int64_t from,
                  int64_t to, storage::TxnStateRecord state) {
  auto log = storage::TxnLog::Open(dir);
  if (!log.ok()) return log.status();
  for (int64_t start = from; start < to; start += kSeedBatch) {
    storage::LogBatch batch;
    for (int64_t i = start; i < std::min(to, start + kSeedBatch); ++i) {
      const storage::TxnRecord rec =
          SeedRecord(workload, base + static_cast<uint64_t>(i), i, state);
      batch.Begin(rec);
      if (state == storage::TXN_COMMITTED) batch.Finish(rec);
    }
    if (absl::Status s = (*log)->WriteAndWait(std::move(batch), /*sync=*/false); !s.ok()) return s;
  }
  // A log that grew over months has long been compacted; leave this one so too, rather than
  // charge the whole backlog's compaction to the next measurement.
  return (*log)->Compact();
}

absl::Status StopCoordinator(launch::LocalStack& stack) {
  stack.coordinator().Signal(SIGTERM);
  if (!stack.coordinator().Wait(kStopTimeout).has_value()) {
    return absl::DeadlineExceededError("the coordinator did not stop after SIGTERM");
  }
  return absl::OkStatus();
}

int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    int64_t kib = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %ld kB", &kib) == 1) return kib * 1024;
  }
  return 0;
}

double Metric(launch::LocalStack& stack, const std::string& name) {
  return launch::MetricSum(launch::HttpGet(stack.coordinator_metrics_endpoint(), "/metrics"),
                            name);
}

void SetTime(int64_t micros, google::protobuf::Timestamp* t) {
  t->set_seconds(micros / 1000000);
  t->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

// Seeded active transactions not yet terminal (PREPARING or ABORTING), read page by page.
absl::StatusOr<int> CountUndecided(const client::SettleClient& client, uint64_t base, int64_t n) {
  v1::ListTransactionsRequest req;
  req.add_states(v1::TXN_STATE_PREPARING);
  req.add_states(v1::TXN_STATE_ABORTING);
  req.set_page_size(1000);
  SetTime(static_cast<int64_t>(base), req.mutable_begin_after());
  SetTime(static_cast<int64_t>(base) + n, req.mutable_begin_before());
  int count = 0;
  do {
    auto page = client.ListTransactions(req);
    if (!page.ok()) return page.status();
    count += page->transactions_size();
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  return count;
}

// Times `n` calls of `call` one after another.
template <typename Call>
absl::StatusOr<QueryLatency> TimeQueries(int n, Call call) {
  Recorder recorder;
  recorder.Enable(true);
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    const absl::Time t = absl::Now();
    if (absl::Status s = call(i); !s.ok()) return s;
    recorder.Record({absl::Now() - t, "ok"});
  }
  const StepStats s = recorder.Take(absl::Now() - start);
  return QueryLatency{s.p50, s.p99, s.max};
}

absl::Status MeasureQueries(launch::LocalStack& stack, uint64_t base, const GrowthOptions& o,
                            GrowthReport& report) {
  const client::SettleClient& client = stack.client();
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> pick(0, o.finished - 1);
  auto get = TimeQueries(o.queries, [&](int) {
    auto t =
        client.GetTransaction(storage::TxnIdFor(kShard, base + static_cast<uint64_t>(pick(rng))));
    return t.status();
  });
  if (!get.ok()) return get.status();
  report.get = *get;
  const int lists = std::max(1, o.queries / 10);
  auto list = [&](auto fill) {
    return TimeQueries(lists, [&](int) {
      v1::ListTransactionsRequest req;
      req.set_page_size(100);
      fill(req);
      return client.ListTransactions(req).status();
    });
  };
  auto first = list([](v1::ListTransactionsRequest&) {});
  if (!first.ok()) return first.status();
  report.list_first = *first;
  auto seek = list([&](v1::ListTransactionsRequest& req) {
    SetTime(static_cast<int64_t>(base) + pick(rng), req.mutable_begin_after());
  });
  if (!seek.ok()) return seek.status();
  report.list_seek = *seek;
  auto filter =
      list([](v1::ListTransactionsRequest& req) { req.add_states(v1::TXN_STATE_COMMITTING); });
  if (!filter.ok()) return filter.status();
  report.list_filter = *filter;
  return absl::OkStatus();
}

std::string LatencyJson(const QueryLatency& q) {
  return absl::StrFormat("{\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
                         absl::ToDoubleMilliseconds(q.p50), absl::ToDoubleMilliseconds(q.p99),
                         absl::ToDoubleMilliseconds(q.max));
}

std::string StepJson(const StepStats& s) {
  return absl::StrFormat(
      "{\"tps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
      "\"errors\":%d}",
      s.tps, absl::ToDoubleMilliseconds(s.p50), absl::ToDoubleMilliseconds(s.p99),
      absl::ToDoubleMilliseconds(s.p999), absl::ToDoubleMilliseconds(s.max),
      s.count - (s.results.count("committed") ? s.results.at("committed") : 0) -
          (s.results.count("aborted") ? s.results.at("aborted") : 0));
}

}  // namespace

absl::StatusOr<GrowthReport> RunGrowth(launch::LocalStack& stack, Driver& settle,
                                       const Workload& workload, const GrowthOptions& o,
                                       std::atomic<uint64_t>& seq) {
  GrowthReport report;
  const std::string dir = stack.dir() + "/coordinator";
  const uint64_t base = SeedBase();
  auto step = [&](const std::string& label) {
    StepOptions opts = o.step;
    opts.label = label;
    return RunClosedLoop(settle, o.concurrency, opts, seq);
  };
  auto restart = [&](int64_t seed_from, int64_t seed_to, storage::TxnStateRecord state,
                     uint64_t seed_base, const std::vector<std::string>& flags) -> absl::Status {
    if (absl::Status s = StopCoordinator(stack); !s.ok()) return s;
    if (absl::Status s = Seed(dir, workload, seed_base, seed_from, seed_to, state); !s.ok()) {
      return s;
    }
    return stack.StartCoordinator(flags);
  };

  report.empty = step("empty log");

  if (absl::Status s = restart(0, o.mid_finished, storage::TXN_COMMITTED, base, {}); !s.ok()) {
    return s;
  }
  report.at_mid = step(absl::StrCat(o.mid_finished, " finished"));
  report.rss_mid_bytes = ResidentBytes(stack.coordinator().pid());

  if (absl::Status s = restart(o.mid_finished, o.finished, storage::TXN_COMMITTED, base, {});
      !s.ok()) {
    return s;
  }
  report.at_full = step(absl::StrCat(o.finished, " finished"));
  report.rss_full_bytes = ResidentBytes(stack.coordinator().pid());
  if (absl::Status s = MeasureQueries(stack, base, o, report); !s.ok()) return s;

  // Every seeded transaction finished two hours ago: past a 30-minute retention, so the sweep
  // removes them all while the load runs.
  if (absl::Status s = restart(0, 0, storage::TXN_COMMITTED, base,
                               {"--retention=30m", "--retention_sweep_interval=1s"});
      !s.ok()) {
    return s;
  }
  const double swept_before = Metric(stack, "settle_retention_removed_total");
  report.while_sweeping = step("sweeping retention");
  report.swept =
      static_cast<int64_t>(Metric(stack, "settle_retention_removed_total") - swept_before);

  // Undecided transactions left by a crash: recovery aborts each at the three participants.
  const uint64_t active_base = base + static_cast<uint64_t>(o.finished);
  if (absl::Status s = StopCoordinator(stack); !s.ok()) return s;
  if (absl::Status s = Seed(dir, workload, active_base, 0, o.active, storage::TXN_PREPARING);
      !s.ok()) {
    return s;
  }
  const absl::Time start = absl::Now();
  if (absl::Status s = stack.StartCoordinator(); !s.ok()) return s;
  bool serving = false, resolved = false;
  while (!resolved && absl::Now() - start < kResolveTimeout) {
    if (!serving && stack.CoordinatorServing()) {
      serving = true;
      report.recovery_serving = absl::Now() - start;
    }
    if (serving) {
      auto left = CountUndecided(stack.client(), active_base, o.active);
      if (left.ok() && *left == 0) {
        resolved = true;
        report.recovery_resolved = absl::Now() - start;
      }
    }
    if (!resolved) absl::SleepFor(absl::Milliseconds(20));
  }
  if (!resolved) {
    return absl::DeadlineExceededError(absl::StrCat("recovery of ", o.active,
                                                    " active transactions did not finish within ",
                                                    absl::FormatDuration(kResolveTimeout)));
  }
  return report;
}

std::string GrowthJson(const GrowthOptions& o, const GrowthReport& r) {
  return absl::StrCat(
      "{\"concurrency\":", o.concurrency, ",\"mid_finished\":", o.mid_finished,
      ",\"finished\":", o.finished, ",\"active\":", o.active, ",\"empty\":", StepJson(r.empty),
      ",\"at_mid\":", StepJson(r.at_mid), ",\"at_full\":", StepJson(r.at_full),
      absl::StrFormat(",\"full_tps_ratio\":%.3f",
                      r.empty.tps > 0 ? r.at_full.tps / r.empty.tps : 0),
      ",\"rss_mid_bytes\":", r.rss_mid_bytes, ",\"rss_full_bytes\":", r.rss_full_bytes,
      absl::StrFormat(
          ",\"rss_growth\":%.3f",
          r.rss_mid_bytes > 0 ? static_cast<double>(r.rss_full_bytes) / r.rss_mid_bytes : 0),
      ",\"get\":", LatencyJson(r.get), ",\"list_first\":", LatencyJson(r.list_first),
      ",\"list_seek\":", LatencyJson(r.list_seek), ",\"list_filter\":", LatencyJson(r.list_filter),
      ",\"while_sweeping\":", StepJson(r.while_sweeping), ",\"swept\":", r.swept,
      absl::StrFormat(",\"recovery_serving_s\":%.3f,\"recovery_resolved_s\":%.3f}",
                      absl::ToDoubleSeconds(r.recovery_serving),
                      absl::ToDoubleSeconds(r.recovery_resolved)));
}

std::string GrowthText(const GrowthOptions& o, const GrowthReport& r) {
  auto row = [](const char* what, const StepStats& s) {
    return absl::StrFormat("  %-34s %9.0f %9.2f %9.2f %9.2f %9.2f\n", what, s.tps,
                           absl::ToDoubleMilliseconds(s.p50), absl::ToDoubleMilliseconds(s.p99),
                           absl::ToDoubleMilliseconds(s.p999), absl::ToDoubleMilliseconds(s.max));
  };
  auto q = [](const char* what, const QueryLatency& l) {
    return absl::StrFormat("  %-34s p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what,
                           absl::ToDoubleMilliseconds(l.p50), absl::ToDoubleMilliseconds(l.p99),
                           absl::ToDoubleMilliseconds(l.max));
  };
  const double mib = 1 << 20;
  return absl::StrCat(
      absl::StrFormat("\ngrowth, closed loop c=%d\n  %-34s %9s %9s %9s %9s %9s\n", o.concurrency,
                      "log holds", "txn/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"),
      row("empty", r.empty), row(absl::StrCat(o.mid_finished, " finished").c_str(), r.at_mid),
      row(absl::StrCat(o.finished, " finished").c_str(), r.at_full),
      row(absl::StrCat(o.finished, " finished, sweeping").c_str(), r.while_sweeping),
      absl::StrFormat("  throughput at %d finished: %.2f of the empty log's\n", o.finished,
                      r.empty.tps > 0 ? r.at_full.tps / r.empty.tps : 0),
      absl::StrFormat("  retention removed %d finished transactions during the sweeping step\n",
                      r.swept),
      absl::StrFormat(
          "  coordinator RSS: %.0f MiB at %d finished, %.0f MiB at %d (x%.2f)\n",
          r.rss_mid_bytes / mib, o.mid_finished, r.rss_full_bytes / mib, o.finished,
          r.rss_mid_bytes > 0 ? static_cast<double>(r.rss_full_bytes) / r.rss_mid_bytes : 0),
      q("GetTransaction", r.get), q("ListTransactions, first page", r.list_first),
      q("ListTransactions, from a time", r.list_seek),
      q("ListTransactions, state=COMMITTING", r.list_filter),
      absl::StrFormat("  recovery of %d active: SERVING after %.2f s, all aborted after %.2f s\n",
                      o.active, absl::ToDoubleSeconds(r.recovery_serving),
                      absl::ToDoubleSeconds(r.recovery_resolved)));
}

}  // namespace settle::bench
