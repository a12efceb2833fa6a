// settle-chaos: the bank workload under random faults for a given time, then the checker's
// report. For soaks longer than CI affords:
//   build/settle-chaos --minutes 10
// Faults, drawn at random: kill -9 of the coordinator or a participant, a participant paused
// past the prepare deadline, the coordinator's or a participant's disk full for a moment; all
// the while every link drops, delays and duplicates a share of requests and replies
// (settle-faultproxy).

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/env_flags.h"
#include "tests/fault/bank.h"

ABSL_FLAG(double, minutes, 10, "how long to inject faults");
ABSL_FLAG(uint32_t, seed, 0, "random seed (0: from the clock)");
ABSL_FLAG(double, link_fault_rate, 0.03, "share of requests and of replies each proxy drops");

namespace {

using settle::testing::LocalStack;

// The participants; the bank mixes two-phase transfers with card sagas through the gateway.
const char* const kKinds[] = {"balance", "ledger", "notification", "gateway"};

std::string g_dir;

// Each process's disk fails while its trigger file exists.
std::string DiskFullTrigger(const std::string& process) { return g_dir + "/disk-full-" + process; }

std::vector<std::string> ParticipantFlags(const std::string& kind) {
  return {"--in_doubt_after=1s", "--in_doubt_check_interval=200ms",
          "--test_write_fault_trigger=" + DiskFullTrigger(kind)};
}

// Fills `process`'s disk for a random moment.
void DiskFullFor(const std::string& process, std::mt19937& rng) {
  std::ofstream(DiskFullTrigger(process)) << "full";
  absl::SleepFor(absl::Milliseconds(200 + rng() % 1500));
  std::filesystem::remove(DiskFullTrigger(process));
}

int Fail(const std::string& what, const absl::Status& why = absl::OkStatus()) {
  const std::string detail = why.ok() ? "" : ": " + why.ToString();
  std::fprintf(stderr, "settle-chaos: %s%s (logs in %s with SETTLE_KEEP_TEST_DIR=1)\n",
               what.c_str(), detail.c_str(), g_dir.c_str());
  return 1;
}

// Kills `p` and waits until it is gone: a process killed in the middle of an fsync exits only
// once that I/O completes.
absl::Status Kill(settle::testing::Process& p) {
  p.Signal(SIGKILL);
  if (!p.Wait(absl::Seconds(30)).has_value()) {
    return absl::DeadlineExceededError("still running 30 s after SIGKILL");
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  settle::ParseFlagsWithEnv(argc, argv, "settle-chaos: the bank check under random faults");
  uint32_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint32_t>(absl::ToUnixNanos(absl::Now()));
  std::mt19937 rng(seed);
  std::printf("settle-chaos: seed %u, %.1f minutes of faults\n", seed,
              absl::GetFlag(FLAGS_minutes));

  LocalStack stack;
  g_dir = stack.dir();
  const std::vector<std::string> coordinator_flags = {"--test_write_fault_trigger=" +
                                                      DiskFullTrigger("coordinator")};
  if (!stack.StartCoordinator(coordinator_flags).ok()) return Fail("the coordinator did not start");
  for (const char* kind : kKinds) {
    if (!stack.StartParticipant(kind, ParticipantFlags(kind)).ok()) {
      return Fail("a participant did not start");
    }
  }
  // Every link goes through a fault proxy for the whole run.
  std::vector<std::unique_ptr<settle::testing::Process>> proxies;
  const std::string rate = absl::StrCat(absl::GetFlag(FLAGS_link_fault_rate));
  for (const char* kind : kKinds) {
    auto p = stack.StartFaultProxy(kind, {"--drop_request=" + rate, "--drop_reply=" + rate,
                                          "--duplicate=" + rate, "--delay_max=20ms",
                                          absl::StrCat("--seed=", seed)});
    if (!p.ok()) return Fail("a fault proxy did not start or could not be registered");
    proxies.push_back(std::move(*p));
  }
  settle::fault::Bank bank(stack, settle::fault::MixedModes());
  if (!bank.Setup().ok()) return Fail("cannot open the accounts");
  bank.Start();

  std::map<std::string, int> faults;
  const absl::Time end = absl::Now() + absl::Minutes(absl::GetFlag(FLAGS_minutes));
  absl::Time next_report = absl::Now() + absl::Seconds(30);
  while (absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(200 + rng() % 1800));  // Faults land at random instants.
    const char* kind = kKinds[rng() % std::size(kKinds)];
    switch (rng() % 6) {
      case 0:
        if (absl::Status s = Kill(stack.coordinator()); !s.ok()) return Fail("coordinator", s);
        if (absl::Status s = stack.StartCoordinator(coordinator_flags); !s.ok()) {
          return Fail("coordinator restart", s);
        }
        ++faults["coordinator kill -9"];
        break;
      case 1:
        if (absl::Status s = Kill(stack.participant(kind)); !s.ok()) return Fail(kind, s);
        if (absl::Status s = stack.StartParticipant(kind, ParticipantFlags(kind)); !s.ok()) {
          return Fail("participant restart", s);
        }
        ++faults["participant kill -9"];
        break;
      case 2:
        stack.participant(kind).Signal(SIGSTOP);
        absl::SleepFor(absl::Milliseconds(500 + rng() % 2500));
        stack.participant(kind).Signal(SIGCONT);
        ++faults["participant paused"];
        break;
      case 3:
        DiskFullFor("coordinator", rng);
        ++faults["coordinator disk full"];
        break;
      case 4:
        DiskFullFor(kind, rng);
        ++faults["participant disk full"];
        break;
      default:
        ++faults["quiet interval"];
    }
    if (absl::Now() > next_report) {
      std::printf("  ... %lld payments so far\n", static_cast<long long>(bank.payments()));
      std::fflush(stdout);
      next_report += absl::Seconds(30);
    }
  }

  // Heal: the links become clean, everything runs, the load stops.
  if (!stack.RegisterAll().ok()) return Fail("cannot re-register the participants");
  int link_faults = 0;
  for (const char* kind : kKinds) link_faults += stack.ProxyLogCount(kind, "\"injected\"");
  faults["link fault (drop, lost reply, duplicate)"] = link_faults;
  bank.Stop();
  auto settled = bank.AwaitQuiescence(absl::Minutes(3));
  std::printf("faults injected:\n");
  for (const auto& [what, n] : faults) std::printf("  %-42s %d\n", what.c_str(), n);
  if (!settled.ok()) return Fail(settled.status().ToString());
  std::printf("longest time a transaction stayed undecided after the faults healed: %s\n",
              absl::FormatDuration(*settled).c_str());
  auto report = bank.Check();
  if (!report.ok()) {
    // Check() answers INTERNAL with the violations; any other code means it could not read.
    std::printf("%s (seed %u):\n%s\n",
                report.status().code() == absl::StatusCode::kInternal
                    ? "INVARIANT VIOLATIONS"
                    : "THE CHECKER COULD NOT READ THE STATE",
                seed, report.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", report->c_str());
  return 0;
}
