// ledger: a double-entry journal. Prepare checks the entry balances; Commit appends it.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "participants/reference.h"
#include "proto/status_mapping.h"
#include "settle/v1/reference.grpc.pb.h"

namespace settle::participants {
namespace {

using storage::Space;

constexpr char kEntryPrefix[] = "entry/";

// Empty when the entry is valid; otherwise why not.
std::string CheckEntry(const v1::LedgerPayload& p) {
  if (p.lines_size() < 2 || p.lines_size() > 64) return "a journal entry needs 2 to 64 lines";
  int64_t debits = 0, credits = 0;
  for (const auto& line : p.lines()) {
    if (line.account().empty()) return "a journal line has no account";
    if (line.debit_minor() < 0 || line.credit_minor() < 0 || line.debit_minor() > kMaxAmountMinor ||
        line.credit_minor() > kMaxAmountMinor) {
      return absl::StrCat("line for ", line.account(), " has an amount out of range");
    }
    if ((line.debit_minor() > 0) == (line.credit_minor() > 0)) {
      return absl::StrCat("line for ", line.account(),
                          " must have exactly one of debit and credit above 0");
    }
    debits += line.debit_minor();
    credits += line.credit_minor();
  }
  if (debits != credits) {
    return absl::StrCat("entry does not balance: debits ", debits, " != credits ", credits);
  }
  return "";
}

class LedgerHandler final : public sdk::BranchHandler {
 public:
  sdk::Vote Prepare(const sdk::BranchContext&, const std::string& payload,
                    storage::WorkView&) override {
    v1::LedgerPayload p;
    if (!p.ParseFromString(payload)) return sdk::Vote::No("payload is not a LedgerPayload");
    if (std::string why = CheckEntry(p); !why.empty()) return sdk::Vote::No(why);
    // Nothing to reserve: the SDK keeps the payload with the prepared barrier until Commit.
    return sdk::Vote::Yes();
  }

  absl::Status Commit(const sdk::BranchContext& ctx, const std::string& payload,
                      storage::WorkView& view) override {
    v1::LedgerPayload p;
    if (!p.ParseFromString(payload)) return absl::DataLossError("prepared payload is unreadable");
    auto seq = NextSequence(view, "entry_seq");
    if (!seq.ok()) return seq.status();
    v1::JournalEntry entry;
    entry.set_sequence(*seq);
    entry.set_txn_id(ctx.txn_id);
    entry.set_branch_id(ctx.branch_id);
    *entry.mutable_lines() = p.lines();
    entry.set_memo(p.memo());
    view.Put(Space::kData, absl::StrFormat("%s%020u", kEntryPrefix, *seq),
             entry.SerializeAsString());
    return absl::OkStatus();
  }

  absl::Status Abort(const sdk::BranchContext&, const std::string&, storage::WorkView&) override {
    return absl::OkStatus();  // Nothing was reserved.
  }
};

class LedgerAdmin final : public v1::LedgerAdmin::CallbackService {
 public:
  explicit LedgerAdmin(storage::BranchStore& store) : store_(store) {}

  grpc::ServerUnaryReactor* ListEntries(grpc::CallbackServerContext* context,
                                        const v1::ListEntriesRequest* request,
                                        v1::ListEntriesResponse* response) override {
    auto* reactor = context->DefaultReactor();
    auto next = ScanPage(store_, kEntryPrefix, request->page_token(), request->page_size(),
                         [response](const std::string& value) {
                           response->add_entries()->ParseFromString(value);
                         });
    if (next.ok()) response->set_next_page_token(*next);
    reactor->Finish(ToGrpcStatus(next.status()));
    return reactor;
  }

 private:
  storage::BranchStore& store_;
};

}  // namespace

// A saga's compensation: the reversing entry (debits and credits swapped).
absl::StatusOr<std::string> ReverseEntry(const std::string& payload) {
  v1::LedgerPayload p;
  if (!p.ParseFromString(payload)) return absl::InvalidArgumentError("payload is not a LedgerPayload");
  for (auto& line : *p.mutable_lines()) {
    const int64_t debit = line.debit_minor();
    line.set_debit_minor(line.credit_minor());
    line.set_credit_minor(debit);
  }
  p.set_memo(absl::StrCat("reversal: ", p.memo()));
  return p.SerializeAsString();
}

ReferenceParticipant MakeLedger(storage::BranchStore& store) {
  auto handler = std::make_unique<LedgerHandler>();
  auto saga = std::make_unique<sdk::ReversibleSaga>(*handler, ReverseEntry);
  return {std::move(handler), std::make_unique<LedgerAdmin>(store), std::move(saga)};
}

}  // namespace settle::participants
