// The bank check's invariants, proven once the faults have healed and nothing is active.

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "tests/fault/bank.h"

namespace settle::fault {

absl::StatusOr<std::string> Bank::Check() {
  std::vector<std::string> violations;
  auto violate = [&violations](std::string v) {
    if (violations.size() < 20) violations.push_back(std::move(v));
  };

  // Every transaction the coordinator knows, and its state.
  std::map<std::string, v1::Transaction> txns;
  std::map<std::string, std::vector<std::string>> ids_by_key;
  auto listed = stack_.Transactions(v1::ListTransactionsRequest());
  if (!listed.ok()) return listed.status();
  for (const auto& t : *listed) {
    txns[t.txn_id()] = t;
    ids_by_key[t.idempotency_key()].push_back(t.txn_id());
  }

  std::set<std::string> committed, aborted, sagas;
  std::map<v1::Mode, int> by_mode;
  for (const auto& [id, t] : txns) {
    if (t.mode() == v1::MODE_SAGA) sagas.insert(id);
    ++by_mode[t.mode()];
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
  const std::map<std::string, Payment> payments = Payments();
  int told_committed = 0, told_aborted = 0, unknown = 0;
  for (const auto& [key, payment] : payments) {
    const std::string& outcome = payment.outcome;
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
    if (payment.txn_id != it->second[0]) {
      violate(absl::StrCat("key ", key, " answered with another id"));
    }
    const bool is_committed = committed.count(it->second[0]) > 0;
    if (outcome == "COMMITTED") {
      ++told_committed;
      if (!is_committed) violate(absl::StrCat("key ", key, " returned COMMITTED but is not"));
    } else {
      ++told_aborted;
      if (is_committed) violate(absl::StrCat("key ", key, " returned ABORTED but committed"));
    }
  }

  // Which committed transactions have a branch at each participant.
  std::map<std::string, std::set<std::string>> committed_at;
  for (const auto& id : committed) {
    for (const auto& b : txns[id].branches()) committed_at[b.participant()].insert(id);
  }

  // Each participant's barriers agree with the coordinator, and every commit landed everywhere.
  int barriers = 0;
  for (const std::string& name : Participants()) {
    const char* kind = name.c_str();
    auto branches = stack_.Branches(name);
    if (!branches.ok()) return branches.status();
    std::set<std::string> committed_here;
    for (const auto& b : *branches) {
      ++barriers;
      const bool known_commit = committed.count(b.txn_id()) > 0;
      if (b.state() == v1::BARRIER_STATE_COMMITTED) committed_here.insert(b.txn_id());
      if (b.state() == v1::BARRIER_STATE_PREPARED ||
          b.state() == v1::BARRIER_STATE_PRECOMMITTED) {
        violate(absl::StrCat(kind, ": ", b.txn_id(), " still ", v1::BarrierState_Name(b.state())));
      } else if ((b.state() == v1::BARRIER_STATE_COMMITTED) != known_commit) {
        violate(absl::StrCat(kind, ": ", b.txn_id(), " is ", v1::BarrierState_Name(b.state()),
                             " but the coordinator says ",
                             known_commit ? "COMMITTED" : "not committed"));
      }
    }
    for (const auto& id : committed_at[name]) {
      if (!committed_here.count(id)) violate(absl::StrCat(kind, ": committed ", id, " missing"));
    }
  }

  // Cards: what the gateway kept, net of refunds, is what the ledger journalled as card
  // receivables and what the merchant holds; a committed saga kept its charge whole, an aborted
  // one kept nothing, a declined card was never charged.
  int64_t card_net = 0, receivables = 0, merchant = 0;
  int card_committed = 0, card_aborted = 0;
  if (options_.card_share > 0) {
    auto charges = stack_.Charges();
    if (!charges.ok()) return charges.status();
    std::map<std::string, int64_t> kept;  // By txn id.
    for (const auto& c : *charges) {
      const int64_t net = c.amount_minor() - c.refunded_minor();
      if (net < 0) violate(absl::StrCat("charge ", c.charge_id(), " refunded more than charged"));
      card_net += net;
      const std::string txn_id = c.charge_id().substr(0, c.charge_id().find('/'));
      kept[txn_id] = net;
      // Never money taken for a payment the coordinator does not know.
      if (!sagas.count(txn_id)) violate(absl::StrCat("charge ", c.charge_id(), " has no saga"));
    }
    for (const auto& id : sagas) {
      const bool charged = kept.count(id) > 0;
      if (committed.count(id)) {
        ++card_committed;
        if (!charged || kept[id] <= 0) {
          violate(absl::StrCat(id, " committed but the gateway kept no charge"));
        }
      } else {
        ++card_aborted;
        if (charged && kept[id] != 0) {
          violate(absl::StrCat(id, " aborted but the gateway kept ", kept[id]));
        }
      }
    }
    for (const auto& [key, payment] : payments) {
      auto it = ids_by_key.find(key);
      if (payment.declined && it != ids_by_key.end() && kept.count(it->second[0])) {
        violate(absl::StrCat("key ", key, ": a declined card was charged"));
      }
    }
    auto m = stack_.Account(kMerchant);
    if (!m.ok()) return m.status();
    merchant = m->available_minor() + m->held_minor();
    if (m->held_minor() != 0) violate(absl::StrCat("the merchant still holds ", m->held_minor()));
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
  // Card payments bring money in from outside: the merchant's is checked against the gateway.
  const int64_t expected_total = options_.opening_balance * options_.accounts;
  if (total != expected_total) {
    violate(absl::StrCat("total is ", total, ", expected ", expected_total));
  }

  // The journal holds exactly the committed transactions, once each; an aborted saga's entry
  // only with its reversal.
  auto journal = stack_.Journal();
  if (!journal.ok()) return journal.status();
  std::multiset<std::string> journaled;
  for (const auto& e : *journal) {
    journaled.insert(e.txn_id());
    for (const auto& line : e.lines()) {
      if (line.account() == client::kCardReceivables) {
        receivables += line.debit_minor() - line.credit_minor();
      }
    }
    if (!txns.count(e.txn_id())) violate(absl::StrCat("journal entry for unknown ", e.txn_id()));
  }
  for (const auto& id : committed) {
    if (journaled.count(id) != 1) {
      violate(absl::StrCat("journal has ", journaled.count(id), " entries for ", id));
    }
  }
  for (const auto& id : aborted) {
    const size_t n = journaled.count(id);
    if (n != 0 && !(sagas.count(id) && n == 2)) {
      violate(absl::StrCat("journal has ", n, " entries for aborted ", id));
    }
  }
  if (options_.card_share > 0 && (card_net != receivables || card_net != merchant)) {
    violate(absl::StrCat("cards: the gateway kept ", card_net, ", the ledger journalled ",
                         receivables, " as card receivables, the merchant holds ", merchant));
  }

  // At each notifier, a ready notification for each committed transaction sent there, none for
  // an aborted one.
  size_t ready_total = 0;
  std::set<std::string> published;  // "<txn>/<branch>" of every message of a committed branch.
  for (const std::string& notifier : options_.notifiers) {
    auto outbox = stack_.Outbox(notifier);
    if (!outbox.ok()) return outbox.status();
    const std::set<std::string>& expected = committed_at[notifier];
    std::set<std::string> ready;
    std::map<std::string, int> undone;  // Aborted sagas: receipts minus their reversals.
    size_t saga_undone_messages = 0;
    for (const auto& m : *outbox) {
      const bool committed_state =
          m.state() == v1::MESSAGE_STATE_READY || m.state() == v1::MESSAGE_STATE_PUBLISHED;
      if (committed_state) published.insert(absl::StrCat(m.txn_id(), "/", m.branch_id()));
      if (committed_state && aborted.count(m.txn_id()) && sagas.count(m.txn_id())) {
        // A receipt sent before the saga turned back, and the message that takes it back.
        const bool reversal = absl::EndsWith(m.topic(), ".reversed");
        undone[m.txn_id()] += reversal ? -1 : 1;
        ++saga_undone_messages;
        continue;
      }
      if (!committed_state || !expected.count(m.txn_id())) {
        violate(absl::StrCat(notifier, " outbox: ", m.txn_id(), " ",
                             v1::MessageState_Name(m.state()),
                             " for a transaction that did not commit there"));
      }
      ready.insert(m.txn_id());
    }
    for (const auto& [id, n] : undone) {
      if (n != 0) violate(absl::StrCat(notifier, " outbox: aborted saga ", id, " kept a receipt"));
    }
    if (ready.size() != expected.size() ||
        outbox->size() != expected.size() + saga_undone_messages) {
      violate(absl::StrCat(notifier, " outbox has ", outbox->size(), " messages for ",
                           expected.size(), " transactions committed there"));
    }
    ready_total += ready.size();
  }
  const std::string deliveries = options_.broker ? CheckDeliveries(published, violate) : "";

  if (!violations.empty()) {
    return absl::InternalError(absl::StrCat(violations.size(), " invariant violations:\n  ",
                                            absl::StrJoin(violations, "\n  ")));
  }
  return absl::StrFormat(
      "bank check: %d payments issued (%d told COMMITTED, %d told ABORTED, %d unknown to the "
      "client); coordinator: %d transactions, %d committed, %d aborted, 0 active; %d branch "
      "records agree; total %d conserved over %d accounts, none held or negative; %d journal "
      "entries and %d ready notifications, one per commit sent to a notifier; every key one "
      "transaction; %d card sagas (%d committed, %d aborted), gateway net %d = ledger card "
      "receivables = merchant; by mode: %d two-phase, %d three-phase, %d saga%s; 0 violations",
      payments.size(), told_committed, told_aborted, unknown, txns.size(), committed.size(),
      aborted.size(), barriers, total, options_.accounts, journaled.size(), ready_total,
      card_committed + card_aborted, card_committed, card_aborted, card_net,
      by_mode[v1::MODE_TWO_PHASE] + by_mode[v1::MODE_UNSPECIFIED], by_mode[v1::MODE_THREE_PHASE],
      by_mode[v1::MODE_SAGA], deliveries);
}

std::string Bank::CheckDeliveries(const std::set<std::string>& published,
                                  const std::function<void(std::string)>& violate) const {
  for (const std::string& notifier : options_.notifiers) {
    auto outbox = stack_.Outbox(notifier);
    for (const auto& m : outbox.ok() ? *outbox : std::vector<v1::OutboxMessage>()) {
      if (m.state() == v1::MESSAGE_STATE_READY) {
        violate(absl::StrCat(notifier, " outbox: ", m.txn_id(), " was never published"));
      }
    }
  }
  // The consumer's effects: one delivery per published message, and none for anything else.
  auto deliveries = stack_.Deliveries();
  if (!deliveries.ok()) {
    violate(absl::StrCat("cannot list the notifier's deliveries: ", deliveries.status().ToString()));
    return "";
  }
  std::set<std::string> delivered;
  for (const auto& d : *deliveries) {
    if (!published.count(d.id())) violate(absl::StrCat("notifier: ", d.id(), " was never committed"));
    if (d.state() != v1::DELIVERY_STATE_DELIVERED) {
      violate(absl::StrCat("notifier: ", d.id(), " is ", v1::DeliveryState_Name(d.state())));
    }
    if (!delivered.insert(d.id()).second) violate(absl::StrCat("notifier: ", d.id(), " twice"));
  }
  for (const std::string& id : published) {
    if (!delivered.count(id)) violate(absl::StrCat("notifier: the result of ", id, " was lost"));
  }
  // The merchant's side: every delivery arrived, nothing else did.
  int merchant_copies = 0;
  const std::map<std::string, int> accepted =
      options_.merchant_accepted ? options_.merchant_accepted() : std::map<std::string, int>();
  for (const auto& [id, n] : accepted) {
    if (!delivered.count(id)) violate(absl::StrCat("merchant: got ", id, ", never delivered"));
    merchant_copies += n - 1;
  }
  if (options_.merchant_accepted && accepted.size() != delivered.size()) {
    violate(absl::StrCat("merchant: got ", accepted.size(), " results of ", delivered.size()));
  }
  return absl::StrFormat(
      "; broker: %d messages published, the notifier acted on exactly those once each, the "
      "merchant accepted all of them (%d second copies after a notifier crash)",
      published.size(), merchant_copies);
}

}  // namespace settle::fault
