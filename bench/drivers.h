#ifndef SETTLE_BENCH_DRIVERS_H_
#define SETTLE_BENCH_DRIVERS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "settle/v1/coordinator.grpc.pb.h"
#include "settle/v1/participant.grpc.pb.h"

namespace settle::bench {

struct BranchSpec {
  std::string participant;
  std::string payload;
  uint32_t step = 0;  // Saga step.
};

// The transactions a run sends: transfers between `accounts` accounts at balance, with a
// ledger entry and a notification, cycling over those three for `branches` branches. A share
// `abort_ratio` of them overdraw and so abort. Pure and thread-safe.
//
// In MODE_SAGA each transaction is the reference card payment instead (a charge at the
// gateway, the merchant's credit and journal, the receipt; client::MakeCardPayment), the
// merchant being one of the accounts; an abort is a receipt the notification service refuses,
// which makes the saga refund the card and take the credit back. MODE_THREE_PHASE runs the
// transfers under three-phase commit.
class Workload final {
 public:
  Workload(int branches, int accounts, size_t payload_bytes, double abort_ratio,
           v1::Mode mode = v1::MODE_TWO_PHASE);
  v1::Mode mode() const { return mode_; }
  bool saga() const { return mode_ == v1::MODE_SAGA; }
  std::vector<BranchSpec> Branches(uint64_t seq) const;
  std::vector<std::string> Accounts() const;
  static constexpr int64_t kOpeningBalance = int64_t{1} << 40;

 private:
  const int branches_;
  const int accounts_;
  const size_t payload_bytes_;
  const double abort_ratio_;
  const v1::Mode mode_;
};

// Runs one transaction asynchronously; `done` gets "committed", "aborted" or a status code
// name, exactly once, on a gRPC thread. Thread-safe.
class Driver {
 public:
  virtual ~Driver() = default;
  virtual void Run(uint64_t seq, std::function<void(std::string result)> done) = 0;
};

// Through the coordinator: one Execute per transaction, at the shard that owns its key when
// `coordinator` lists shards (ShardMap::Parse). INVALID_ARGUMENT for a bad list.
absl::StatusOr<std::unique_ptr<Driver>> MakeSettleDriver(const std::string& coordinator,
                                                         const Workload& workload,
                                                         const std::string& run_id);

// The bare fan-out of the same work, with no coordinator and no coordinator log: Prepare to
// every branch in parallel, then Commit to all (or Abort to all after a NO); in three-phase
// commit a PreCommit round between them; in a saga each step's Acts, step after step, and the
// Compensations after a refusal. `participants`: name to endpoint, for every branch's.
std::unique_ptr<Driver> MakeBaselineDriver(const std::map<std::string, std::string>& participants,
                                           const Workload& workload);

}  // namespace settle::bench

#endif  // SETTLE_BENCH_DRIVERS_H_
