#include "tests/fault/bank.h"

#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace settle::fault {
namespace {

std::string Account(int i) { return absl::StrCat("acct-", i); }

}  // namespace

Bank::Bank(testing::LocalStack& stack, BankOptions options) : stack_(stack), options_(options) {}

Bank::~Bank() { Stop(); }

absl::Status Bank::Setup() {
  for (int i = 0; i < options_.accounts; ++i) {
    if (absl::Status s = stack_.OpenAccount(Account(i), options_.opening_balance); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void Bank::Start() {
  for (int i = 0; i < options_.clients; ++i) clients_.emplace_back([this, i] { Client(i); });
}

void Bank::Stop() {
  stop_ = true;
  for (auto& t : clients_) t.join();
  clients_.clear();
}

int64_t Bank::payments() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(outcomes_.size());
}

void Bank::Client(int id) {
  // Its own channel: the coordinator restarts on the same port under it.
  auto client = client::SettleClient::Connect(stack_.coordinator_endpoint());
  std::mt19937_64 rng(static_cast<uint64_t>(id) * 7919 + 17);
  client::RetryOptions once;
  once.max_attempts = 1;
  once.call_timeout = absl::Seconds(5);
  for (int i = 0; !stop_; ++i) {
    const int from = static_cast<int>(rng() % options_.accounts);
    const int to =
        (from + 1 + static_cast<int>(rng() % (options_.accounts - 1))) % options_.accounts;
    const int64_t amount = 1 + static_cast<int64_t>(rng() % 3000);
    const std::string key = absl::StrCat("bank-", id, "-", i);
    const v1::ExecuteRequest req =
        client::MakeTransfer(key, Account(from), Account(to), amount, options_.txn_timeout);
    const absl::Time give_up = absl::Now() + options_.give_up_after;
    std::string outcome = "UNKNOWN";
    std::string txn_id;
    for (;;) {
      auto r = client->Execute(req, once);
      if (r.ok()) {
        outcome = r->outcome() == v1::OUTCOME_COMMITTED ? "COMMITTED" : "ABORTED";
        txn_id = r->txn_id();
        break;
      }
      const auto code = r.status().code();
      if ((code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded) ||
          absl::Now() > give_up) {
        outcome =
            code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded
                ? "UNKNOWN"
                : absl::StrCat("ERROR ", r.status().ToString());
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));  // A payment API's retry backoff.
    }
    absl::MutexLock lock(&mu_);
    outcomes_[key] = outcome;
    if (!txn_id.empty()) ids_[key] = txn_id;
  }
}

absl::StatusOr<absl::Duration> Bank::AwaitQuiescence(absl::Duration timeout) {
  const absl::Time start = absl::Now();
  const bool quiet = testing::WaitFor(
      [&] {
        v1::ListTransactionsRequest req;
        req.add_states(v1::TXN_STATE_PREPARING);
        req.add_states(v1::TXN_STATE_COMMITTING);
        req.add_states(v1::TXN_STATE_ABORTING);
        req.set_page_size(1);
        auto active = stack_.client().ListTransactions(req);
        if (!active.ok() || active->transactions_size() > 0) return false;
        for (const char* kind : {"balance", "ledger", "notification"}) {
          auto branches = stack_.Branches(kind);
          if (!branches.ok()) return false;
          for (const auto& b : *branches) {
            if (b.state() == v1::BARRIER_STATE_PREPARED) return false;
          }
        }
        return true;
      },
      timeout);
  if (!quiet) {
    return absl::DeadlineExceededError(absl::StrCat("transactions still undecided or prepared ",
                                                    absl::FormatDuration(timeout),
                                                    " after the faults healed"));
  }
  return absl::Now() - start;
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

absl::StatusOr<std::string> Bank::Check() {
  std::vector<std::string> violations;
  auto violate = [&violations](std::string v) {
    if (violations.size() < 20) violations.push_back(std::move(v));
  };

  // Every transaction the coordinator knows, and its state.
  std::map<std::string, v1::Transaction> txns;
  std::map<std::string, std::vector<std::string>> ids_by_key;
  v1::ListTransactionsRequest list;
  list.set_page_size(1000);
  do {
    auto page = stack_.client().ListTransactions(list);
    if (!page.ok()) return page.status();
    for (const auto& t : page->transactions()) {
      txns[t.txn_id()] = t;
      ids_by_key[t.idempotency_key()].push_back(t.txn_id());
    }
    list.set_page_token(page->next_page_token());
  } while (!list.page_token().empty());

  std::set<std::string> committed, aborted;
  for (const auto& [id, t] : txns) {
    if (t.state() == v1::TXN_STATE_COMMITTED) {
      committed.insert(id);
    } else if (t.state() == v1::TXN_STATE_ABORTED) {
      aborted.insert(id);
    } else {
      violate(absl::StrCat(id, " is not terminal at the coordinator"));
    }
  }
  for (const auto& [key, ids] : ids_by_key) {
    if (ids.size() != 1) violate(absl::StrCat("key ", key, " made ", ids.size(), " transactions"));
  }

  // What the clients were told agrees with the coordinator.
  std::map<std::string, std::string> outcomes, ids;
  {
    absl::MutexLock lock(&mu_);
    outcomes = outcomes_;
    ids = ids_;
  }
  int told_committed = 0, told_aborted = 0, unknown = 0;
  for (const auto& [key, outcome] : outcomes) {
    auto it = ids_by_key.find(key);
    if (outcome == "UNKNOWN") {
      ++unknown;
      continue;
    }
    if (outcome.rfind("ERROR", 0) == 0) {
      violate(absl::StrCat("key ", key, ": ", outcome));
      continue;
    }
    if (it == ids_by_key.end()) {
      violate(absl::StrCat("key ", key, " was answered ", outcome, " but is unknown"));
      continue;
    }
    if (ids[key] != it->second[0]) violate(absl::StrCat("key ", key, " answered with another id"));
    const bool is_committed = committed.count(it->second[0]) > 0;
    if (outcome == "COMMITTED") {
      ++told_committed;
      if (!is_committed) violate(absl::StrCat("key ", key, " returned COMMITTED but is not"));
    } else {
      ++told_aborted;
      if (is_committed) violate(absl::StrCat("key ", key, " returned ABORTED but committed"));
    }
  }

  // Each participant's barriers agree with the coordinator, and every commit landed everywhere.
  int barriers = 0;
  for (const char* kind : {"balance", "ledger", "notification"}) {
    auto branches = stack_.Branches(kind);
    if (!branches.ok()) return branches.status();
    std::set<std::string> committed_here;
    for (const auto& b : *branches) {
      ++barriers;
      const bool known_commit = committed.count(b.txn_id()) > 0;
      if (b.state() == v1::BARRIER_STATE_COMMITTED) committed_here.insert(b.txn_id());
      if (b.state() == v1::BARRIER_STATE_PREPARED) {
        violate(absl::StrCat(kind, ": ", b.txn_id(), " still prepared"));
      } else if ((b.state() == v1::BARRIER_STATE_COMMITTED) != known_commit) {
        violate(absl::StrCat(kind, ": ", b.txn_id(), " is ", v1::BarrierState_Name(b.state()),
                             " but the coordinator says ",
                             known_commit ? "COMMITTED" : "not committed"));
      }
    }
    for (const auto& id : committed) {
      if (!committed_here.count(id)) violate(absl::StrCat(kind, ": committed ", id, " missing"));
    }
  }

  // Money: conserved, nothing held, nothing negative.
  int64_t total = 0;
  for (int i = 0; i < options_.accounts; ++i) {
    auto a = stack_.Account(Account(i));
    if (!a.ok()) return a.status();
    total += a->available_minor() + a->held_minor();
    if (a->held_minor() != 0) violate(absl::StrCat(Account(i), " still holds ", a->held_minor()));
    if (a->available_minor() < 0) violate(absl::StrCat(Account(i), " is negative"));
  }
  const int64_t expected_total = options_.opening_balance * options_.accounts;
  if (total != expected_total) {
    violate(absl::StrCat("total is ", total, ", expected ", expected_total));
  }

  // The journal holds exactly the committed transactions, once each.
  auto journal = stack_.Journal();
  if (!journal.ok()) return journal.status();
  std::multiset<std::string> journaled;
  for (const auto& e : *journal) journaled.insert(e.txn_id());
  for (const auto& id : committed) {
    if (journaled.count(id) != 1) {
      violate(absl::StrCat("journal has ", journaled.count(id), " entries for ", id));
    }
  }
  if (journaled.size() != committed.size()) {
    violate(absl::StrCat("journal has ", journaled.size(), " entries for ", committed.size(),
                         " committed transactions"));
  }

  // A ready notification for each committed transaction, none for an aborted one.
  auto outbox = stack_.Outbox();
  if (!outbox.ok()) return outbox.status();
  std::set<std::string> ready;
  for (const auto& m : *outbox) {
    if (m.state() != v1::MESSAGE_STATE_READY || !committed.count(m.txn_id())) {
      violate(absl::StrCat("outbox: ", m.txn_id(), " ", v1::MessageState_Name(m.state()),
                           " for a transaction that did not commit"));
    }
    ready.insert(m.txn_id());
  }
  if (ready.size() != committed.size() || outbox->size() != committed.size()) {
    violate(absl::StrCat("outbox has ", outbox->size(), " messages for ", committed.size(),
                         " committed transactions"));
  }

  if (!violations.empty()) {
    return absl::InternalError(absl::StrCat(violations.size(), " invariant violations:\n  ",
                                            absl::StrJoin(violations, "\n  ")));
  }
  return absl::StrFormat(
      "bank check: %d payments issued (%d told COMMITTED, %d told ABORTED, %d unknown to the "
      "client); coordinator: %d transactions, %d committed, %d aborted, 0 active; %d branch "
      "records agree; total %d conserved over %d accounts, none held or negative; %d journal "
      "entries and %d ready notifications, one per commit; every key one transaction; "
      "0 violations",
      outcomes.size(), told_committed, told_aborted, unknown, txns.size(), committed.size(),
      aborted.size(), barriers, total, options_.accounts, journaled.size(), ready.size());
}

}  // namespace settle::fault
