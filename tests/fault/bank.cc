#include "tests/fault/bank.h"

#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace settle::fault {
namespace {

constexpr char kCard[] = "4111-1111-1111-1111";
constexpr char kDeclinedCard[] = "4000-0000-0000-0002";

}  // namespace

Bank::Bank(launch::LocalStack& stack, BankOptions options) : stack_(stack), options_(options) {}

Bank::~Bank() { Stop(); }

absl::Status Bank::Setup() {
  for (int i = 0; i < options_.accounts; ++i) {
    if (absl::Status s = stack_.OpenAccount(Account(i), options_.opening_balance); !s.ok()) {
      return s;
    }
  }
  if (options_.card_share > 0) {
    if (absl::Status s = stack_.OpenAccount(kMerchant, 0); !s.ok()) return s;
    v1::GatewayConfig config;
    config.add_declined_cards(kDeclinedCard);
    config.set_refund_delay_micros(20'000);
    return stack_.ConfigureGateway(config);
  }
  return absl::OkStatus();
}

void Bank::Start() {
  stop_ = false;  // Started again: each client begins again at its first key.
  for (int i = 0; i < options_.clients; ++i) clients_.emplace_back([this, i] { Client(i); });
}

void Bank::Stop() {
  stop_ = true;
  for (auto& t : clients_) t.join();
  clients_.clear();
}

int64_t Bank::payments() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(payments_.size());
}

std::map<std::string, Payment> Bank::Payments() const {
  absl::MutexLock lock(&mu_);
  return payments_;
}

std::vector<std::string> Bank::Participants() const {
  std::vector<std::string> out = {"balance", "ledger"};
  out.insert(out.end(), options_.notifiers.begin(), options_.notifiers.end());
  if (options_.card_share > 0) out.push_back("gateway");
  return out;
}

void Bank::Client(int id) {
  // Its own channels: the coordinator (each shard) restarts on the same port under it.
  auto client = *client::SettleClient::ConnectShards(stack_.coordinator_endpoints());
  std::mt19937_64 rng(static_cast<uint64_t>(id) * 7919 + 17);
  for (int i = 0; !stop_; ++i) {
    Pay(*client, rng, id, i);
    if (options_.pause_between_payments > absl::ZeroDuration()) {
      absl::SleepFor(options_.pause_between_payments);  // A paced client, not a wait.
    }
  }
}

void Bank::PayOne() {
  auto client = *client::SettleClient::ConnectShards(stack_.coordinator_endpoints());
  Pay(*client, one_rng_, options_.clients, one_count_++);
}

void Bank::Pay(const client::SettleClient& client, std::mt19937_64& rng, int id, int n) {
  client::RetryOptions once;
  once.max_attempts = 1;
  once.call_timeout = absl::Seconds(5);
  const int from = static_cast<int>(rng() % options_.accounts);
  const int to = (from + 1 + static_cast<int>(rng() % (options_.accounts - 1))) % options_.accounts;
  const int64_t amount = 1 + static_cast<int64_t>(rng() % 3000);
  const std::string key = absl::StrCat(options_.key_prefix, "-", id, "-", n);
  Payment payment;
  payment.card = static_cast<double>(rng() % 1000) < options_.card_share * 1000;
  v1::ExecuteRequest req;
  if (payment.card) {
    payment.declined = rng() % 6 == 0;
    payment.notifier = "notification";
    req = client::MakeCardPayment(key, payment.declined ? kDeclinedCard : kCard, kMerchant,
                                  amount);
  } else {
    req = client::MakeTransfer(key, Account(from), Account(to), amount, options_.txn_timeout);
    if (static_cast<double>(rng() % 1000) < options_.three_phase_share * 1000) {
      req.set_mode(v1::MODE_THREE_PHASE);
    }
  }
  // The transfer's third branch is its receipt: sent to one notifier, or dropped.
  const size_t choices = options_.notifiers.size() + (options_.some_without_notification ? 1 : 0);
  const size_t pick = static_cast<size_t>(rng() % choices);
  if (payment.card) {
    // The card payment's receipt goes to "notification".
  } else if (pick < options_.notifiers.size()) {
    payment.notifier = options_.notifiers[pick];
    req.mutable_branches(2)->set_participant(payment.notifier);
  } else {
    req.mutable_branches()->RemoveLast();
  }
  const absl::Time give_up = absl::Now() + options_.give_up_after;
  payment.outcome = "UNKNOWN";
  for (;;) {
    ++payment.attempts;
    auto r = client.Execute(req, once);
    if (r.ok()) {
      payment.outcome = r->outcome() == v1::OUTCOME_COMMITTED ? "COMMITTED" : "ABORTED";
      payment.txn_id = r->txn_id();
      break;
    }
    const auto code = r.status().code();
    payment.last_error = code;
    const bool retry = code == absl::StatusCode::kUnavailable ||
                       code == absl::StatusCode::kDeadlineExceeded ||
                       code == absl::StatusCode::kCancelled;  // As SettleClient retries.
    if (!retry) payment.outcome = absl::StrCat("ERROR ", r.status().ToString());
    if (!retry || absl::Now() > give_up) break;
    absl::SleepFor(absl::Milliseconds(50));  // A payment API's retry backoff.
  }
  absl::MutexLock lock(&mu_);
  payments_[key] = std::move(payment);
}

absl::StatusOr<absl::Duration> Bank::AwaitQuiescence(absl::Duration timeout) {
  const absl::Time start = absl::Now();
  const bool quiet = launch::WaitFor(
      [&] {
        // Every page: the whole active set, not a first-page guess.
        auto active = stack_.ActiveTransactions();
        if (!active.ok() || !active->empty()) return false;
        for (const std::string& name : Participants()) {
          auto branches = stack_.Branches(name);
          if (!branches.ok()) return false;
          for (const auto& b : *branches) {
            if (b.state() == v1::BARRIER_STATE_PREPARED ||
                b.state() == v1::BARRIER_STATE_PRECOMMITTED) {
              return false;
            }
          }
        }
        return !options_.broker || ResultsDelivered();
      },
      timeout);
  if (!quiet) {
    // Name a few of them, with each branch's state and last error: what a reader needs first.
    std::string which;
    auto active = stack_.ActiveTransactions();
    for (size_t i = 0; active.ok() && i < active->size() && i < 3; ++i) {
      const v1::Transaction& t = (*active)[i];
      absl::StrAppend(&which, "\n  ", t.txn_id(), " ", v1::Mode_Name(t.mode()), " ",
                      v1::TxnState_Name(t.state()));
      for (const auto& b : t.branches()) {
        absl::StrAppend(&which, "\n    ", b.participant(), " ", v1::BranchState_Name(b.state()),
                        " attempts=", b.attempts(), " ", b.last_error());
      }
    }
    if (options_.broker) ResultsDelivered(&which);
    return absl::DeadlineExceededError(absl::StrCat("transactions still undecided or prepared, "
                                                    "or results not yet delivered, ",
                                                    absl::FormatDuration(timeout),
                                                    " after the faults healed", which));
  }
  return absl::Now() - start;
}

bool Bank::ResultsDelivered(std::string* why) const {
  size_t published = 0, ready = 0;
  for (const std::string& notifier : options_.notifiers) {
    auto outbox = stack_.Outbox(notifier);
    if (!outbox.ok()) return false;
    for (const auto& m : *outbox) {
      ready += m.state() == v1::MESSAGE_STATE_READY ? 1 : 0;
      published += m.state() == v1::MESSAGE_STATE_PUBLISHED ? 1 : 0;
    }
  }
  auto all = stack_.Deliveries();
  if (!all.ok()) return false;
  std::map<v1::DeliveryState, size_t> by_state;
  for (const auto& d : *all) ++by_state[d.state()];
  const bool done = ready == 0 && by_state[v1::DELIVERY_STATE_DELIVERED] == published;
  if (!done && why != nullptr) {
    *why = absl::StrFormat(
        "\n  outboxes: %d ready, %d published; notifier: %d pending, %d delivered, %d dead",
        ready, published, by_state[v1::DELIVERY_STATE_PENDING],
        by_state[v1::DELIVERY_STATE_DELIVERED], by_state[v1::DELIVERY_STATE_DEAD]);
  }
  return done;
}

absl::StatusOr<std::string> Bank::StopAndCheck(absl::Duration timeout) {
  Stop();
  auto settled = AwaitQuiescence(timeout);
  if (!settled.ok()) return settled.status();
  auto report = Check();
  if (!report.ok()) return report.status();
  return absl::StrCat(*report, "; everything terminal ", absl::FormatDuration(*settled),
                      " after the faults healed");
}

}  // namespace settle::fault
