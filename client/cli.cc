// settle: the command-line tool for payments, transactions, participants and the reference
// services' data. Run `settle --help` for the commands.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/settle_client.h"
#include "common/env_flags.h"
#include "common/shard_map.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "proto/status_mapping.h"
#include "proto/time_convert.h"
#include "settle/v1/reference.grpc.pb.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070",
          "coordinator address, or every shard's: a comma-separated list (shard i is the i-th) "
          "or a pattern such as settle-coordinator-{0..3}.settle-coordinator:7070");
ABSL_FLAG(std::string, shard, "",
          "list, audit, participants: only this shard (default: each in turn); drain: the "
          "shard to drain (default s0). sN, N or a pod name ending in -N; with a single "
          "--coordinator it is that one, whatever its shard (the preStop hook's case)");
ABSL_FLAG(absl::Duration, wait, absl::ZeroDuration(),
          "drain: wait up to this long for the shard to empty; exit 1 if it has not");
ABSL_FLAG(bool, report, false, "drain: only report the shard's progress");
ABSL_FLAG(bool, json, false, "print results as JSON");
ABSL_FLAG(std::string, key, "", "idempotency key (transfer, execute; default: a fresh one)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5), "prepare-phase timeout of a payment");
ABSL_FLAG(bool, wait_for_acks, false, "return only once every participant acknowledged");
ABSL_FLAG(std::vector<std::string>, branch, {},
          "execute: a branch as NAME=@FILE (payload bytes read from FILE)");
ABSL_FLAG(std::string, state, "", "list: only these states, comma-separated (preparing, "
                                   "precommitting, committing, aborting, committed, aborted, "
                                   "compensating, needs_attention; active = every one not "
                                   "terminal); deliveries: pending, delivered or dead");
ABSL_FLAG(std::string, mode, "",
          "transfer, execute: two_phase (the default) or three_phase (read the README's warning "
          "first); list: only this mode (two_phase, saga or three_phase)");
ABSL_FLAG(bool, stuck, false, "list: only stuck transactions (unfinished past the stuck age)");
ABSL_FLAG(std::string, participant, "", "list: only transactions with a branch there");
ABSL_FLAG(int32_t, limit, 20, "list, journal, outbox: page size");
ABSL_FLAG(std::string, page_token, "", "list, journal, outbox: continue from this token");
ABSL_FLAG(std::string, reason, "", "abort, retry, resolve: why");
ABSL_FLAG(std::string, operator_name, "", "retry, resolve, drain: who acts (default: $USER)");
ABSL_FLAG(std::string, at, "", "accounts/journal/outbox: the reference participant's address");

namespace {

constexpr char kUsage[] = R"(settle: Settle's command-line tool.

Payments and transactions (--coordinator, default 127.0.0.1:7070):
  settle transfer FROM TO AMOUNT_MINOR [--key K]   run the reference 3-branch payment
                 [--mode two_phase|three_phase]
  settle execute --branch NAME=@FILE ... [--key K] run a transaction with raw payloads
  settle get TXN_ID | settle get --key K            show one transaction
  settle list [--state S[,S]|active] [--mode M] [--stuck] [--participant P]
              [--limit N] [--page_token T]
  settle abort TXN_ID [--reason R]                  abort an undecided transaction
  settle pay-card CARD MERCHANT AMOUNT_MINOR [--key K]
                                                    a card payment, as a saga (gateway charge,
                                                    merchant credit and journal, receipt)
  settle refund TXN_ID MERCHANT AMOUNT_MINOR        refund an earlier card payment (a saga)
  settle retry TXN_ID --reason R [--operator_name O]
  settle resolve TXN_ID --reason R [--operator_name O]
                                                    a parked saga (needs_attention): try its
                                                    compensations again, or close it by hand
  settle audit [--limit N] [--page_token T]         the operators' audit trail, oldest first
Shards (--coordinator a:1,b:2 or name-{0..3}.svc:7070; payments and ids route themselves):
  settle drain [--shard N] [--reason R] [--wait 25s]
                                                    stop the shard admitting new payments before
                                                    its replica goes; exit 0 once it is empty
  settle drain --report [--shard N]                 its progress
Participants:
  settle register NAME HOST:PORT | settle deregister NAME | settle participants
Health (grpc.health.v1; --at HOST:PORT, default the coordinator or each of its shards):
  settle health                                     exit 0 only when SERVING (every shard)
Reference services' data (--at HOST:PORT):
  settle accounts open ACCOUNT AMOUNT_MINOR | settle accounts list
  settle journal | settle outbox
settle-notifier's webhook deliveries (--at HOST:PORT of its admin API):
  settle deliveries [--state pending|delivered|dead] [--limit N] [--page_token T]
  settle resend ID                                  deliver a delivered or dead one again
Add --json to any command for machine-readable output. Flags may also be set as SETTLE_<FLAG>.
Exit status: 0 done (a payment that aborted is done), 1 an error, 2 bad usage.)";

// Who acts: --operator_name, else $USER.
std::string Operator() {
  std::string who = absl::GetFlag(FLAGS_operator_name);
  if (who.empty() && std::getenv("USER") != nullptr) who = std::getenv("USER");
  return who;
}

int Usage(const std::string& why) {
  std::fprintf(stderr, "%s\n\n%s\n", why.c_str(), kUsage);
  return 2;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "error: %s: %s\n", absl::StatusCodeToString(s.code()).c_str(),
               std::string(s.message()).c_str());
  return 1;
}

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  google::protobuf::util::MessageToJsonString(m, &out, opts);
  std::printf("%s\n", out.c_str());
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  auto time = settle::FromProtoTime(t, "time");
  if (!time.ok()) return "(invalid)";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", *time, absl::UTCTimeZone());
}

std::string Lower(const std::string& enum_name, const std::string& prefix) {
  std::string s = enum_name.substr(enum_name.rfind(prefix) == 0 ? prefix.size() : 0);
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

void PrintOutcome(const settle::v1::ExecuteResponse& r) {
  if (absl::GetFlag(FLAGS_json)) return PrintJson(r);
  std::printf("%s  %s%s\n", r.txn_id().c_str(),
              Lower(settle::v1::Outcome_Name(r.outcome()), "OUTCOME_").c_str(),
              r.replayed() ? "  (replayed)" : "");
  if (r.outcome() == settle::v1::OUTCOME_ABORTED) {
    std::printf("  refused by %s: %s\n",
                r.refused_participant().empty() ? "-" : r.refused_participant().c_str(),
                r.reason().c_str());
  }
}

void PrintTxn(const settle::v1::Transaction& t) {
  std::printf("%s  %-10s%s  key=%s  began %s  decided %s  finished %s\n", t.txn_id().c_str(),
              Lower(settle::v1::TxnState_Name(t.state()), "TXN_STATE_").c_str(),
              t.stuck() ? "  STUCK" : "", t.idempotency_key().c_str(), Time(t.begin_time()).c_str(),
              Time(t.decision_time()).c_str(), Time(t.finish_time()).c_str());
  if (!t.reason().empty()) std::printf("  reason: %s\n", t.reason().c_str());
  for (const auto& b : t.branches()) {
    std::printf("  branch %u  %-14s %-10s", b.branch_id(), b.participant().c_str(),
                Lower(settle::v1::BranchState_Name(b.state()), "BRANCH_STATE_").c_str());
    if (t.mode() == settle::v1::MODE_SAGA) std::printf("  step %u", b.step());
    if (b.attempts() > 0) {
      std::printf("  attempts=%u next_retry=%s last_error=%s", b.attempts(),
                  Time(b.next_retry_time()).c_str(), b.last_error().c_str());
    }
    if (!b.reason().empty()) std::printf("  %s", b.reason().c_str());
    std::printf("\n");
  }
  for (const auto& a : t.operator_actions()) {
    std::printf("  %s by %s at %s: %s\n", a.action().c_str(), a.operator_().c_str(),
                Time(a.time()).c_str(), a.reason().c_str());
  }
}

std::string FreshKey() { return absl::StrCat("cli-", absl::ToUnixNanos(absl::Now())); }

// --mode onto a transfer or raw execute; false for a mode they do not run.
bool SetMode(settle::v1::ExecuteRequest& req) {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (!mode.empty() && mode != "two_phase" && mode != "three_phase") return false;
  req.set_mode(mode == "three_phase" ? settle::v1::MODE_THREE_PHASE : settle::v1::MODE_TWO_PHASE);
  return true;
}

int RunExecute(const settle::client::SettleClient& client, settle::v1::ExecuteRequest req) {
  req.set_wait_for_acks(absl::GetFlag(FLAGS_wait_for_acks));
  const absl::Time start = absl::Now();
  auto r = client.Execute(req);
  if (!r.ok()) return Fail(r.status());
  PrintOutcome(*r);
  if (!absl::GetFlag(FLAGS_json)) {
    std::printf("  took %s\n", absl::FormatDuration(absl::Now() - start).c_str());
  }
  return 0;
}

int Deliveries(const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& ctx) {
  settle::v1::ListDeliveriesRequest req;
  if (const std::string state = absl::GetFlag(FLAGS_state); !state.empty()) {
    settle::v1::DeliveryState parsed;
    std::string name = "DELIVERY_STATE_" + state;
    std::transform(name.begin(), name.end(), name.begin(), ::toupper);
    if (!settle::v1::DeliveryState_Parse(name, &parsed)) {
      return Usage("--state must be pending, delivered or dead");
    }
    req.set_state(parsed);
  }
  req.set_page_size(absl::GetFlag(FLAGS_limit));
  req.set_page_token(absl::GetFlag(FLAGS_page_token));
  settle::v1::ListDeliveriesResponse resp;
  auto s = settle::v1::NotifierAdmin::NewStub(channel)->ListDeliveries(&ctx, req, &resp);
  if (!s.ok()) return Fail(settle::FromGrpcStatus(s));
  if (absl::GetFlag(FLAGS_json)) return PrintJson(resp), 0;
  for (const auto& d : resp.deliveries()) {
    std::printf("%s  %-9s %s -> %s  %d attempt(s)\n", d.id().c_str(),
                Lower(settle::v1::DeliveryState_Name(d.state()), "DELIVERY_STATE_").c_str(),
                d.recipient().c_str(), d.url().empty() ? "(no webhook)" : d.url().c_str(),
                d.attempts_size());
    for (const auto& a : d.attempts()) {
      std::printf("    %s  %s  %lld ms\n",
                  absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixMicros(a.at_micros()),
                                   absl::UTCTimeZone())
                      .c_str(),
                  a.error().empty() ? absl::StrCat("HTTP ", a.http_status()).c_str()
                                    : a.error().c_str(),
                  static_cast<long long>(a.duration_micros() / 1000));
    }
  }
  if (!resp.next_page_token().empty()) {
    std::printf("more: --page_token %s\n", resp.next_page_token().c_str());
  }
  return 0;
}

int ReferenceData(const std::vector<std::string>& args, const settle::TlsOptions& tls) {
  const std::string at = absl::GetFlag(FLAGS_at);
  if (at.empty()) return Usage("--at HOST:PORT of the reference participant is required");
  auto channel = grpc::CreateChannel(at, settle::ChannelCredentials(tls));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const std::string& cmd = args[0];
  const bool json = absl::GetFlag(FLAGS_json);
  if (cmd == "accounts" && args.size() == 4 && args[1] == "open") {
    settle::v1::OpenAccountRequest req;
    req.set_account(args[2]);
    int64_t amount = 0;
    if (!absl::SimpleAtoi(args[3], &amount)) return Usage("AMOUNT_MINOR must be an integer");
    req.set_initial_minor(amount);
    settle::v1::Account resp;
    auto s = settle::v1::BalanceAdmin::NewStub(channel)->OpenAccount(&ctx, req, &resp);
    if (!s.ok()) return Fail(settle::FromGrpcStatus(s));
    if (json) return PrintJson(resp), 0;
    std::printf("opened %s with %lld\n", resp.account().c_str(),
                static_cast<long long>(resp.available_minor()));
    return 0;
  }
  if (cmd == "accounts" && args.size() == 2 && args[1] == "list") {
    settle::v1::ListAccountsResponse resp;
    auto s = settle::v1::BalanceAdmin::NewStub(channel)->ListAccounts(&ctx, {}, &resp);
    if (!s.ok()) return Fail(settle::FromGrpcStatus(s));
    if (json) return PrintJson(resp), 0;
    for (const auto& a : resp.accounts()) {
      std::printf("%-16s available=%-12lld held=%lld\n", a.account().c_str(),
                  static_cast<long long>(a.available_minor()),
                  static_cast<long long>(a.held_minor()));
    }
    return 0;
  }
  if (cmd == "journal" && args.size() == 1) {
    settle::v1::ListEntriesRequest req;
    req.set_page_size(absl::GetFlag(FLAGS_limit));
    req.set_page_token(absl::GetFlag(FLAGS_page_token));
    settle::v1::ListEntriesResponse resp;
    auto s = settle::v1::LedgerAdmin::NewStub(channel)->ListEntries(&ctx, req, &resp);
    if (!s.ok()) return Fail(settle::FromGrpcStatus(s));
    if (json) return PrintJson(resp), 0;
    for (const auto& e : resp.entries()) {
      std::printf("#%llu %s  %s\n", static_cast<unsigned long long>(e.sequence()),
                  e.txn_id().c_str(), e.memo().c_str());
      for (const auto& l : e.lines()) {
        std::printf("    %-16s debit=%-10lld credit=%lld\n", l.account().c_str(),
                    static_cast<long long>(l.debit_minor()),
                    static_cast<long long>(l.credit_minor()));
      }
    }
    if (!resp.next_page_token().empty()) {
      std::printf("more: --page_token %s\n", resp.next_page_token().c_str());
    }
    return 0;
  }
  if (cmd == "outbox" && args.size() == 1) {
    settle::v1::ListMessagesRequest req;
    req.set_page_size(absl::GetFlag(FLAGS_limit));
    req.set_page_token(absl::GetFlag(FLAGS_page_token));
    settle::v1::ListMessagesResponse resp;
    auto s = settle::v1::NotificationAdmin::NewStub(channel)->ListMessages(&ctx, req, &resp);
    if (!s.ok()) return Fail(settle::FromGrpcStatus(s));
    if (json) return PrintJson(resp), 0;
    for (const auto& m : resp.messages()) {
      std::printf("%s/%u  %-8s %s -> %s  %s\n", m.txn_id().c_str(), m.branch_id(),
                  Lower(settle::v1::MessageState_Name(m.state()), "MESSAGE_STATE_").c_str(),
                  m.topic().c_str(), m.recipient().c_str(), m.body().c_str());
    }
    if (!resp.next_page_token().empty()) {
      std::printf("more: --page_token %s\n", resp.next_page_token().c_str());
    }
    return 0;
  }
  if (cmd == "deliveries" && args.size() == 1) return Deliveries(channel, ctx);
  if (cmd == "resend" && args.size() == 2) {
    settle::v1::ResendDeliveryRequest req;
    req.set_id(args[1]);
    settle::v1::Delivery resp;
    auto s = settle::v1::NotifierAdmin::NewStub(channel)->ResendDelivery(&ctx, req, &resp);
    if (!s.ok()) return Fail(settle::FromGrpcStatus(s));
    if (json) return PrintJson(resp), 0;
    std::printf("%s  pending again: due now, %s\n", resp.id().c_str(), resp.url().c_str());
    return 0;
  }
  return Usage("unknown or malformed command");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> raw = settle::ParseFlagsWithEnv(argc, argv, kUsage);
  std::vector<std::string> args(raw.begin() + 1, raw.end());
  if (args.empty()) return Usage("no command given");
  const std::string& cmd = args[0];
  // --tls_ca (and, for mutual TLS, --tls_cert and --tls_key): every call below goes over TLS.
  auto tls = settle::TlsOptionsFromFlags();
  if (!tls.ok()) return Usage(std::string(tls.status().message()));
  if (cmd == "accounts" || cmd == "journal" || cmd == "outbox" || cmd == "deliveries" ||
      cmd == "resend") {
    return ReferenceData(args, *tls);
  }
  if (cmd == "health") {
    // --at, else every shard of --coordinator: exit 0 only when each one is SERVING.
    std::string at = absl::GetFlag(FLAGS_at);
    auto shards = settle::ShardMap::Parse(at.empty() ? absl::GetFlag(FLAGS_coordinator) : at);
    if (!shards.ok()) return Usage(std::string(shards.status().message()));
    bool all_serving = true;
    for (const std::string& endpoint : shards->endpoints()) {
      auto stub = grpc::health::v1::Health::NewStub(
          grpc::CreateChannel(endpoint, settle::ChannelCredentials(*tls)));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
      grpc::health::v1::HealthCheckResponse resp;
      grpc::Status s = stub->Check(&ctx, {}, &resp);
      if (!s.ok() && shards->size() == 1) return Fail(settle::FromGrpcStatus(s));
      const std::string answer =
          s.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())
                 : settle::FromGrpcStatus(s).ToString();
      all_serving =
          all_serving && s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      if (shards->size() == 1) {
        std::printf("%s\n", answer.c_str());
      } else {
        std::printf("s%zu %s %s\n", &endpoint - shards->endpoints().data(), endpoint.c_str(),
                    answer.c_str());
      }
    }
    return all_serving ? 0 : 1;
  }

  auto connected =
      settle::client::SettleClient::ConnectShards(absl::GetFlag(FLAGS_coordinator), *tls);
  if (!connected.ok()) return Usage(std::string(connected.status().message()));
  const std::unique_ptr<settle::client::SettleClient> client = *std::move(connected);
  // --shard as an index into --coordinator's list; -1: not given.
  int chosen = -1;
  if (const std::string flag = absl::GetFlag(FLAGS_shard); !flag.empty()) {
    auto name = settle::NormalizeShardName(flag);
    std::optional<int> index = name.ok() ? settle::ShardIndex(*name) : std::nullopt;
    if (!index.has_value()) return Usage("--shard takes sN, N or a pod name ending in -N");
    chosen = client->shard_count() == 1 ? 0 : *index;
    if (chosen >= client->shard_count()) {
      return Usage("--shard " + flag + " is not one of the --coordinator shards");
    }
  }
  // The shards a listing walks: --shard alone, or each in turn.
  std::vector<int> listed;
  for (int i = 0; i < client->shard_count(); ++i) {
    if (chosen < 0 || chosen == i) listed.push_back(i);
  }
  const bool sharded = client->shard_count() > 1;
  auto shard_header = [&](int shard) {
    if (sharded && !absl::GetFlag(FLAGS_json)) {
      std::printf("# shard s%d (%s)\n", shard, client->shards().endpoints()[shard].c_str());
    }
  };
  const bool json = absl::GetFlag(FLAGS_json);
  std::string key = absl::GetFlag(FLAGS_key);
  if (key.empty()) key = FreshKey();

  if (cmd == "transfer") {
    int64_t amount = 0;
    if (args.size() != 4 || !absl::SimpleAtoi(args[3], &amount)) {
      return Usage("usage: settle transfer FROM TO AMOUNT_MINOR");
    }
    settle::v1::ExecuteRequest req =
        settle::client::MakeTransfer(key, args[1], args[2], amount, absl::GetFlag(FLAGS_timeout));
    if (!SetMode(req)) return Usage("--mode takes two_phase or three_phase");
    return RunExecute(*client, req);
  }
  if (cmd == "execute") {
    settle::v1::ExecuteRequest req =
        settle::client::MakeTransfer(key, "", "", 0, absl::GetFlag(FLAGS_timeout));
    req.clear_branches();
    if (!SetMode(req)) return Usage("--mode takes two_phase or three_phase");
    for (const std::string& spec : absl::GetFlag(FLAGS_branch)) {
      const size_t eq = spec.find("=@");
      if (eq == std::string::npos) return Usage("--branch takes NAME=@FILE");
      std::ifstream in(spec.substr(eq + 2), std::ios::binary);
      if (!in) return Usage("cannot read " + spec.substr(eq + 2));
      std::stringstream bytes;
      bytes << in.rdbuf();
      auto* b = req.add_branches();
      b->set_participant(spec.substr(0, eq));
      b->set_payload(bytes.str());
    }
    return RunExecute(*client, std::move(req));
  }
  if (cmd == "get") {
    auto t = args.size() == 2 ? client->GetTransaction(args[1])
                              : client->GetTransactionByKey(absl::GetFlag(FLAGS_key));
    if (args.size() != 2 && absl::GetFlag(FLAGS_key).empty()) {
      return Usage("usage: settle get TXN_ID | settle get --key K");
    }
    if (!t.ok()) return Fail(t.status());
    json ? PrintJson(*t) : PrintTxn(*t);
    return 0;
  }
  if (cmd == "list") {
    settle::v1::ListTransactionsRequest req;
    const std::vector<std::string> states =
        absl::StrSplit(absl::GetFlag(FLAGS_state), ',', absl::SkipEmpty());
    for (const std::string& s : states) {
      if (s == "active") {  // Every state that is not terminal.
        for (auto st : {settle::v1::TXN_STATE_PREPARING, settle::v1::TXN_STATE_PRECOMMITTING,
                        settle::v1::TXN_STATE_COMMITTING,
                        settle::v1::TXN_STATE_ABORTING, settle::v1::TXN_STATE_COMPENSATING,
                        settle::v1::TXN_STATE_NEEDS_ATTENTION}) {
          req.add_states(st);
        }
        continue;
      }
      settle::v1::TxnState state;
      if (!settle::v1::TxnState_Parse("TXN_STATE_" + absl::AsciiStrToUpper(s), &state))
        return Usage("unknown --state " + s);
      req.add_states(state);
    }
    if (const std::string mode = absl::GetFlag(FLAGS_mode); !mode.empty()) {
      settle::v1::Mode parsed;
      if (!settle::v1::Mode_Parse("MODE_" + absl::AsciiStrToUpper(mode), &parsed) ||
          parsed == settle::v1::MODE_UNSPECIFIED) {
        return Usage("--mode must be two_phase, saga or three_phase");
      }
      req.set_mode(parsed);
    }
    req.set_stuck_only(absl::GetFlag(FLAGS_stuck));
    req.set_participant(absl::GetFlag(FLAGS_participant));
    req.set_page_token(absl::GetFlag(FLAGS_page_token));
    const int limit = absl::GetFlag(FLAGS_limit);
    if (limit <= 0) return Usage("--limit must be positive");
    // Pages are followed until --limit transactions are shown or none are left, per shard.
    const std::string first_token = req.page_token();
    for (int shard : listed) {
      settle::v1::ListTransactionsResponse all;
      req.set_page_token(first_token);
      do {
        req.set_page_size(std::min(limit - all.transactions_size(), 1000));
        auto r = client->ListTransactions(req, shard);
        if (!r.ok()) return Fail(r.status());
        for (auto& t : *r->mutable_transactions()) *all.add_transactions() = std::move(t);
        all.set_next_page_token(r->next_page_token());
        req.set_page_token(r->next_page_token());
      } while (all.transactions_size() < limit && !all.next_page_token().empty());
      if (json) {
        PrintJson(all);
        continue;
      }
      shard_header(shard);
      for (const auto& t : all.transactions()) PrintTxn(t);
      if (!all.next_page_token().empty()) {
        std::printf("more: --page_token %s%s\n", all.next_page_token().c_str(),
                    sharded ? absl::StrCat(" --shard ", shard).c_str() : "");
      }
    }
    return 0;
  }
  if (cmd == "pay-card" || cmd == "refund") {
    int64_t amount = 0;
    if (args.size() != 4 || !absl::SimpleAtoi(args[3], &amount)) {
      return Usage("usage: settle pay-card CARD MERCHANT AMOUNT_MINOR | "
                   "settle refund TXN_ID MERCHANT AMOUNT_MINOR");
    }
    // A payment's charge is its first branch: "<txn_id>/0".
    return RunExecute(*client, cmd == "pay-card"
                                   ? settle::client::MakeCardPayment(key, args[1], args[2], amount)
                                   : settle::client::MakeCardRefund(key, args[1] + "/0", args[2],
                                                                    amount));
  }
  if ((cmd == "retry" || cmd == "resolve") && args.size() == 2) {
    const std::string who = Operator();
    const std::string reason = absl::GetFlag(FLAGS_reason);
    auto t = cmd == "retry" ? client->RetryTransaction(args[1], who, reason)
                            : client->ResolveTransaction(args[1], who, reason);
    if (!t.ok()) return Fail(t.status());
    json ? PrintJson(*t) : PrintTxn(*t);
    return 0;
  }
  if (cmd == "abort" && args.size() == 2) {
    auto t = client->AbortTransaction(args[1], absl::GetFlag(FLAGS_reason));
    if (!t.ok()) return Fail(t.status());
    json ? PrintJson(*t) : PrintTxn(*t);
    return 0;
  }
  if (cmd == "register" && args.size() == 3) {
    auto p = client->RegisterParticipant(args[1], args[2]);
    if (!p.ok()) return Fail(p.status());
    if (json) return PrintJson(*p), 0;
    std::printf("registered %s at %s\n", p->name().c_str(), p->endpoint().c_str());
    return 0;
  }
  if (cmd == "deregister" && args.size() == 2) {
    absl::Status s = client->DeregisterParticipant(args[1]);
    if (!s.ok()) return Fail(s);
    if (!json) std::printf("deregistered %s\n", args[1].c_str());
    return 0;
  }
  if (cmd == "audit" && args.size() == 1) {
    settle::v1::ListOperatorCommandsRequest req;
    req.set_page_size(absl::GetFlag(FLAGS_limit));
    req.set_page_token(absl::GetFlag(FLAGS_page_token));
    for (int shard : listed) {
      auto page = client->ListOperatorCommands(req, shard);
      if (!page.ok()) return Fail(page.status());
      if (json) {
        PrintJson(*page);
        continue;
      }
      shard_header(shard);
      for (const auto& c : page->commands()) {
        std::printf("%s %-10s %-24s who=%s%s reason=%s -> %s\n", Time(c.time()).c_str(),
                    c.action().c_str(), c.target().c_str(), c.who().c_str(),
                    c.on_behalf_of().empty() ? "" : (" for " + c.on_behalf_of()).c_str(),
                    c.reason().c_str(),
                    !c.finished()   ? "outcome unknown"
                    : c.code() == 0 ? "OK"
                                    : c.error().c_str());
      }
      if (!page->next_page_token().empty()) {
        std::printf("next page: --page_token %s\n", page->next_page_token().c_str());
      }
    }
    return 0;
  }
  if (cmd == "participants") {
    for (int shard : listed) {
      auto ps = client->ListParticipants(shard);
      if (!ps.ok()) return Fail(ps.status());
      shard_header(shard);
      for (const auto& p : *ps) {
        if (json) {
          PrintJson(p);
          continue;
        }
        std::printf("%-14s %-22s last_success=%s failures=%u%s %s\n", p.name().c_str(),
                    p.endpoint().c_str(), Time(p.health().last_success()).c_str(),
                    p.health().consecutive_failures(),
                    p.health().circuit_open() ? " CIRCUIT-OPEN" : "",
                    p.health().last_error().c_str());
      }
    }
    return 0;
  }
  if (cmd == "drain" && args.size() == 1) {
    const int shard = std::max(0, chosen);
    const bool report_only = absl::GetFlag(FLAGS_report);
    auto r = client->DrainShard(shard, report_only, Operator(), absl::GetFlag(FLAGS_reason));
    // The preStop hook waits here: every second until the shard is empty or --wait is spent.
    const absl::Time until = absl::Now() + absl::GetFlag(FLAGS_wait);
    while (r.ok() && !report_only && !r->empty() && absl::Now() < until) {
      absl::SleepFor(absl::Seconds(1));
      r = client->DrainShard(shard, true);
    }
    if (!r.ok()) return Fail(r.status());
    if (json) return PrintJson(*r), 0;
    std::printf("shard %s: %s, %lld unfinished (%lld parked)%s\n", r->shard().c_str(),
                r->draining() ? "draining" : "admitting", static_cast<long long>(r->unfinished()),
                static_cast<long long>(r->parked()), r->empty() ? ", empty" : "");
    return report_only || r->empty() ? 0 : 1;
  }
  return Usage("unknown or malformed command '" + cmd + "'");
}
