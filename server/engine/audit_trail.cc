#include "server/engine/audit_trail.h"

#include <utility>

#include "absl/strings/match.h"
#include "common/echo.h"
#include "common/json_log.h"

namespace settle::engine {

void AuditTrail::Run(Command command, std::function<void(Outcome)> run, Outcome done) {
  for (std::string* value : {&command.target, &command.reason, &command.on_behalf_of}) {
    if (value->size() > 256) *value = Echo(*value);
  }
  Record(command,
         [this, run = std::move(run), done = std::move(done)](absl::StatusOr<Entry> entry) mutable {
           if (!entry.ok()) return done(entry.status());
           run([this, entry = *std::move(entry), done = std::move(done)](absl::Status s) mutable {
             Finish(std::move(entry), s);
             done(std::move(s));
           });
         });
}

void AuditTrail::Record(const Command& command, std::function<void(absl::StatusOr<Entry>)> done) {
  Entry entry;
  storage::AuditRecord& r = entry.record;
  r.set_micros(absl::ToUnixMicros(clock_.Now()));
  r.set_who(command.who);
  r.set_on_behalf_of(command.on_behalf_of);
  r.set_action(command.action);
  r.set_target(command.target);
  r.set_reason(command.reason);
  entry.key = storage::LogBatch::AuditKey(r.micros(), sequence_.fetch_add(1));
  storage::LogBatch batch;
  batch.PutAudit(entry.key, r);
  log_.Write(std::move(batch), /*sync=*/true,
             [entry = std::move(entry), done = std::move(done)](absl::Status s) mutable {
               if (!s.ok()) {
                 return done(absl::UnavailableError(
                     "the audit trail cannot be written, so the command was not run"));
               }
               done(std::move(entry));
             });
}

void AuditTrail::Finish(Entry entry, const absl::Status& outcome) {
  storage::AuditRecord& r = entry.record;
  r.set_done(true);
  r.set_code(static_cast<int>(outcome.code()));
  r.set_outcome(std::string(outcome.message()));
  Log(outcome.ok() ? LogLevel::kInfo : LogLevel::kWarning, "operator command",
      {{"action", r.action()}, {"target", r.target()}, {"who", r.who()},
       {"on_behalf_of", r.on_behalf_of()}, {"reason", r.reason()},
       {"outcome", outcome.ok() ? "OK" : r.outcome()}});
  storage::LogBatch batch;
  batch.PutAudit(entry.key, r);
  log_.Write(std::move(batch), /*sync=*/false, [](absl::Status) {});
}

absl::StatusOr<std::vector<storage::AuditRecord>> AuditTrail::List(
    const std::string& page_token, int page_size, bool newest_first,
    std::string* next_page_token) const {
  if (page_size < 1 || page_size > 1000) {
    return absl::InvalidArgumentError("page_size must be between 1 and 1000");
  }
  if (!page_token.empty() && !absl::StartsWith(page_token, storage::LogBatch::kAuditPrefix)) {
    return absl::InvalidArgumentError("page_token is not one this listing gave");
  }
  auto page = log_.ListAudit(page_token, page_size, newest_first);
  if (!page.ok()) return page.status();
  std::vector<storage::AuditRecord> out;
  for (auto& [key, record] : *page) out.push_back(std::move(record));
  *next_page_token = static_cast<int>(page->size()) == page_size ? page->back().first : "";
  return out;
}

}  // namespace settle::engine
