// settle-chaos: the bank workload under random faults for a given time, then the checker's
// report. For soaks longer than CI affords:
//   build/settle-chaos --minutes 10
// Faults, drawn at random: kill -9 of the coordinator or a participant, a participant paused
// past the prepare deadline, the coordinator's or a participant's disk full for a moment, a
// power cut of the whole stack (every process stopped at once, every unsynced write of the
// coordinator, participants and notifier lost: storage/power_cut_fs.h), the RabbitMQ broker
// stopped or killed -9, settle-notifier killed -9; all the while every link drops, delays and
// duplicates a share of requests and replies (settle-faultproxy). Payment results go through
// the broker to settle-notifier and a merchant endpoint, and the checker
// proves they are exactly the committed payments'.

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/env_flags.h"
#include "launch/rabbitmq_broker.h"
#include "messaging/amqp_channel.h"
#include "tests/fault/bank.h"
#include "tests/testing/merchant_endpoint.h"

ABSL_FLAG(double, minutes, 10, "how long to inject faults");
ABSL_FLAG(uint32_t, seed, 0, "random seed (0: from the clock)");
ABSL_FLAG(double, link_fault_rate, 0.03, "share of requests and of replies each proxy drops");
ABSL_FLAG(bool, broker, true,
          "payment results through a RabbitMQ broker (rabbitmq-server) and settle-notifier, with "
          "broker and notifier faults");
ABSL_FLAG(bool, power_cuts, true,
          "power cuts among the faults: the coordinator, participants and notifier journal what "
          "reached their disks, and a cut rolls every data dir back to it");

namespace {

using settle::launch::LocalStack;

// The participants; the bank mixes two-phase transfers with card sagas through the gateway.
const char* const kKinds[] = {"balance", "ledger", "notification", "gateway"};

std::string g_dir;

// Each process's disk fails while its trigger file exists.
std::string DiskFullTrigger(const std::string& process) { return g_dir + "/disk-full-" + process; }

// The broker's flags for the notification participant's relay and the notifier; none without.
std::vector<std::string> g_broker_flags;

std::vector<std::string> ParticipantFlags(const std::string& kind) {
  std::vector<std::string> flags = {"--in_doubt_after=1s", "--in_doubt_check_interval=200ms",
                                    "--test_write_fault_trigger=" + DiskFullTrigger(kind)};
  if (kind == "notification") flags.insert(flags.end(), g_broker_flags.begin(), g_broker_flags.end());
  return flags;
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
absl::Status Kill(settle::launch::Process& p) {
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
  const bool power_cuts = absl::GetFlag(FLAGS_power_cuts);
  if (power_cuts) stack.EnablePowerCuts();
  std::unique_ptr<settle::launch::RabbitMqBroker> broker;
  settle::testing::MerchantEndpoint merchant("whsec-chaos");
  std::vector<std::string> notifier_flags;
  if (absl::GetFlag(FLAGS_broker)) {
    auto started = settle::launch::RabbitMqBroker::Start(g_dir + "/broker");
    if (started.ok()) {
      broker = std::move(*started);
      // Declare the topology, then restart cleanly: RabbitMQ 3.10 can lose a quorum queue
      // killed -9 seconds after it was declared (AmqpChannelTest); production queues are old.
      settle::messaging::AmqpOptions amqp;
      amqp.port = broker->port();
      if (!settle::messaging::AmqpChannel::Connect(amqp).ok() || !broker->Stop().ok() ||
          !broker->Restart().ok()) {
        return Fail("cannot establish the broker's queues");
      }
      g_broker_flags = {"--amqp_host=127.0.0.1", absl::StrCat("--amqp_port=", broker->port())};
      notifier_flags = g_broker_flags;
      for (const std::string& f : merchant.NotifierFlags(g_dir)) notifier_flags.push_back(f);
      notifier_flags.push_back("--retry_schedule=200ms,500ms,1s,2s,2s,2s,2s,2s,2s,2s");
    } else {
      std::printf("SKIPPED LOUDLY: no RabbitMQ broker could start here (%s): running without "
                  "broker faults\n",
                  started.status().ToString().c_str());
    }
  }
  const std::vector<std::string> coordinator_flags = {"--test_write_fault_trigger=" +
                                                      DiskFullTrigger("coordinator")};
  if (!stack.StartCoordinator(coordinator_flags).ok()) return Fail("the coordinator did not start");
  for (const char* kind : kKinds) {
    if (!stack.StartParticipant(kind, ParticipantFlags(kind)).ok()) {
      return Fail("a participant did not start");
    }
  }
  // Every link goes through a fault proxy for the whole run.
  std::vector<std::unique_ptr<settle::launch::Process>> proxies;
  const std::string rate = absl::StrCat(absl::GetFlag(FLAGS_link_fault_rate));
  for (const char* kind : kKinds) {
    auto p = stack.StartFaultProxy(kind, {"--drop_request=" + rate, "--drop_reply=" + rate,
                                          "--duplicate=" + rate, "--delay_max=20ms",
                                          absl::StrCat("--seed=", seed)});
    if (!p.ok()) return Fail("a fault proxy did not start or could not be registered");
    proxies.push_back(std::move(*p));
  }
  if (broker != nullptr && !stack.StartNotifier(notifier_flags).ok()) {
    return Fail("settle-notifier did not start");
  }
  settle::fault::BankOptions options = settle::fault::MixedModes();
  options.broker = broker != nullptr;
  options.merchant_accepted = [&merchant] { return merchant.Accepted(); };
  settle::fault::Bank bank(stack, options);
  if (!bank.Setup().ok()) return Fail("cannot open the accounts");
  bank.Start();

  std::map<std::string, int> faults;
  uint64_t unsynced_bytes_lost = 0;
  const absl::Time end = absl::Now() + absl::Minutes(absl::GetFlag(FLAGS_minutes));
  absl::Time next_report = absl::Now() + absl::Seconds(30);
  while (absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(200 + rng() % 1800));  // Faults land at random instants.
    const char* kind = kKinds[rng() % std::size(kKinds)];
    switch (rng() % (broker != nullptr ? 9 : 7)) {
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
      case 5:
        ++faults["quiet interval"];
        break;
      case 6: {
        if (!power_cuts) break;
        auto cut = stack.PowerCut(rng);
        if (!cut.ok()) return Fail("power cut", cut.status());
        // The participants first, so that the coordinator's recovery finds them.
        for (const char* k : kKinds) {
          if (absl::Status s = stack.StartParticipant(k, ParticipantFlags(k)); !s.ok()) {
            return Fail("participant start after a power cut", s);
          }
        }
        if (absl::Status s = stack.StartCoordinator(coordinator_flags); !s.ok()) {
          return Fail("coordinator start after a power cut", s);
        }
        if (broker != nullptr) {
          if (absl::Status s = stack.StartNotifier(notifier_flags); !s.ok()) {
            return Fail("notifier start after a power cut", s);
          }
        }
        ++faults["power cut"];
        unsynced_bytes_lost += cut->bytes_lost;
        break;
      }
      case 7: {
        const bool kill = rng() % 2 == 0;
        if (absl::Status s = kill ? broker->Kill() : broker->Stop(); !s.ok()) return Fail("broker", s);
        absl::SleepFor(absl::Milliseconds(500 + rng() % 2500));
        if (absl::Status s = broker->Restart(); !s.ok()) return Fail("broker restart", s);
        ++faults[kill ? "broker kill -9" : "broker stopped"];
        break;
      }
      default:
        if (absl::Status s = Kill(stack.notifier()); !s.ok()) return Fail("notifier", s);
        if (absl::Status s = stack.StartNotifier(notifier_flags); !s.ok()) {
          return Fail("notifier restart", s);
        }
        ++faults["notifier kill -9"];
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
  if (faults.count("power cut") > 0) {
    std::printf("  (the power cuts dropped %llu unsynced bytes)\n",
                static_cast<unsigned long long>(unsynced_bytes_lost));
  }
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
