#include "server/engine/registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/echo.h"

namespace settle::engine {

Registry::Registry(storage::DecisionLog& log, ParticipantChannelFactory& factory,
                   CircuitBreakerOptions breaker)
    : log_(log), factory_(factory), breaker_options_(breaker) {}

absl::Status Registry::ValidateName(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("participant name ", Echo(name), " must be 1 to 64 characters"));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "participant name ", Echo(name), " may hold only lowercase letters, digits, '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status Registry::Load() {
  auto records = log_.LoadParticipants();
  if (!records.ok()) return records.status();
  absl::MutexLock lock(&mu_);
  for (auto& rec : *records) {
    auto channel = factory_.Create(rec.endpoint());
    if (!channel.ok()) return channel.status();
    const std::string name = rec.name();
    slots_[name] = Slot{ParticipantEntry{std::move(rec), {}}, std::move(*channel),
                        std::make_unique<CircuitBreaker>(breaker_options_)};
  }
  return absl::OkStatus();
}

void Registry::Register(const std::string& name, const std::string& endpoint, absl::Time now,
                        std::function<void(absl::StatusOr<ParticipantEntry>)> done) {
  if (absl::Status s = ValidateName(name); !s.ok()) return done(s);
  auto channel = factory_.Create(endpoint);
  if (absl::IsInvalidArgument(channel.status())) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("participant '", name, "': ", channel.status().message())));
  }
  if (!channel.ok()) return done(channel.status());
  storage::ParticipantRecord rec;
  rec.set_name(name);
  rec.set_endpoint(endpoint);
  rec.set_registered_micros(absl::ToUnixMicros(now));
  storage::LogBatch batch;
  batch.PutParticipant(rec);
  log_.Write(std::move(batch), /*sync=*/true,
             [this, rec, channel = std::move(*channel), done = std::move(done)](
                 absl::Status s) mutable {
               if (!s.ok()) return done(s);
               ParticipantEntry entry;
               {
                 absl::MutexLock lock(&mu_);
                 Slot& slot = slots_[rec.name()];
                 slot.entry.record = std::move(rec);
                 slot.channel = std::move(channel);
                 // A new endpoint starts with a clean slate.
                 slot.entry.health = ParticipantHealth();
                 slot.breaker = std::make_unique<CircuitBreaker>(breaker_options_);
                 entry = slot.entry;
               }
               done(std::move(entry));
             });
}

void Registry::Deregister(const std::string& name, std::function<void(absl::Status)> done) {
  if (!Contains(name)) {
    return done(absl::NotFoundError(absl::StrCat("participant ", Echo(name), " is not registered")));
  }
  storage::LogBatch batch;
  batch.DeleteParticipant(name);
  log_.Write(std::move(batch), /*sync=*/true,
             [this, name, done = std::move(done)](absl::Status s) {
               if (s.ok()) {
                 absl::MutexLock lock(&mu_);
                 slots_.erase(name);
               }
               done(s);
             });
}

absl::StatusOr<std::shared_ptr<ParticipantChannel>> Registry::Channel(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "participant ", Echo(name), " is not registered; register it with `settle register ", name,
        " HOST:PORT` or fix the branch's participant name"));
  }
  return it->second.channel;
}

std::string Registry::Endpoint(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  return it == slots_.end() ? "" : it->second.entry.record.endpoint();
}

bool Registry::CallableByPeers(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  return it != slots_.end() && it->second.channel->CallableByPeers();
}

bool Registry::Contains(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  return slots_.contains(name);
}

std::vector<ParticipantEntry> Registry::List() const {
  std::vector<ParticipantEntry> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, slot] : slots_) out.push_back(slot.entry);
  }
  std::sort(out.begin(), out.end(), [](const ParticipantEntry& a, const ParticipantEntry& b) {
    return a.record.name() < b.record.name();
  });
  return out;
}

absl::Status Registry::Admit(const std::string& name, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) {
    return absl::NotFoundError(absl::StrCat("participant ", Echo(name), " is not registered"));
  }
  Slot& slot = it->second;
  if (slot.breaker->Allow(now)) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "participant '", name, "' is unreachable (", slot.breaker->consecutive_failures(),
      " calls in a row failed, last: ", slot.entry.health.last_error,
      "); payments that need it are refused until it answers a probe (next in ",
      absl::FormatDuration(absl::Ceil(slot.breaker->next_probe() - now, absl::Milliseconds(1))),
      "). Retry later with the same idempotency key"));
}

bool Registry::Allow(const std::string& name, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  return it == slots_.end() || it->second.breaker->Allow(now);
}

void Registry::RecordSuccess(const std::string& name, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) return;
  Slot& slot = it->second;
  slot.entry.health.last_success = now;
  slot.entry.health.consecutive_failures = 0;
  slot.breaker->RecordAnswer();
  slot.entry.health.circuit_open = false;
}

void Registry::RecordFailure(const std::string& name, const absl::Status& error,
                             absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) return;
  Slot& slot = it->second;
  ++slot.entry.health.consecutive_failures;
  // Bounded: it is echoed in messages and listings.
  slot.entry.health.last_error = std::string(error.message().substr(0, 200));
  slot.breaker->RecordFailure(error, now);
  slot.entry.health.circuit_open = slot.breaker->open();
}

}  // namespace settle::engine
