// libFuzzer: the Participant service of each reference participant (balance, ledger,
// notification, gateway), run in process over a real BranchStore through the SDK's
// transport-free path (ServeCall: the same code gRPC and AMQP calls run). The first byte picks
// the participant, the second the method, or plants the rest as a damaged barrier record of a
// branch that the next calls then touch; the rest is the request. Every call must end with a
// status, never a crash or a hang.

#include <sys/statvfs.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "client/participant_server.h"
#include "client/participant_service.h"
#include "participants/reference.h"
#include "storage/branch_store.h"
#include "storage/rocks_branch_store.h"

namespace {

constexpr char kTxn[] = "s0-0000000000000001";

struct Participant {
  std::unique_ptr<settle::storage::BranchStore> store;
  settle::participants::ReferenceParticipant reference;
  std::unique_ptr<settle::sdk::internal::ParticipantService> service;
};

// Where the stores live: tmpfs when it has room (every call syncs its store), else the temp
// folder. A container's /dev/shm is often 64 MB, less than a minute of fuzzing writes.
std::string Root() {
  struct statvfs fs;
  const bool roomy = statvfs("/dev/shm", &fs) == 0 &&
                     static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize > (uint64_t{2} << 30);
  return roomy ? "/dev/shm" : std::filesystem::temp_directory_path().string();
}

// The four participants, on fresh stores every kCallsPerStore calls, so that the stores' files
// stay small however long the fuzzer runs.
std::vector<Participant>& Participants() {
  constexpr int kCallsPerStore = 20000;
  static const std::string base = Root() + "/settle-fuzz-" + std::to_string(getpid());
  static auto* all = [] {
    std::atexit([] { std::filesystem::remove_all(base); });
    return new std::vector<Participant>();
  }();
  static int calls = 0;
  if (calls++ % kCallsPerStore != 0) return *all;
  all->clear();
  std::filesystem::remove_all(base);
  for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
    Participant p;
    p.store = *settle::storage::OpenRocksBranchStore(base + "/" + kind);
    p.reference = *settle::participants::MakeReference(kind, *p.store);
    p.service = std::make_unique<settle::sdk::internal::ParticipantService>(
        *p.store, *p.reference.handler, nullptr, p.reference.saga.get(), kind,
        [] { return absl::Now(); });
    all->push_back(std::move(p));
  }
  return *all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const char* const kMethods[] = {"Prepare", "Commit",    "Abort",          "Act",
                                         "Compensate", "PreCommit", "GetBranchState", "Nope"};
  Participant& p = Participants()[data[0] % 4];
  const std::string rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[1] >= 0xf0) {
    // A damaged barrier record for branch 0 of kTxn, as a bad disk or an old version left it.
    const absl::Status planted = p.store->SubmitAndWait([&](settle::storage::WorkView& view) {
      view.Put(settle::storage::Space::kBarrier, settle::sdk::BarrierKey(kTxn, 0), rest);
      return true;
    });
    if (!planted.ok()) __builtin_trap();
    return 0;
  }
  std::promise<void> done;
  p.service->ServeCall(kMethods[data[1] % 8], rest,
                       [&done](absl::Status, std::string) { done.set_value(); });
  // A call that never ends is a hang: libFuzzer's -timeout reports it.
  done.get_future().wait();
  return 0;
}
