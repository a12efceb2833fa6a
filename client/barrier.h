#ifndef SETTLE_CLIENT_BARRIER_H_
#define SETTLE_CLIENT_BARRIER_H_

// Internal to the participant SDK: the barrier record's helpers shared by the two-phase calls
// (participant_server.cc) and the saga steps (saga_steps.cc). Everything here runs on the
// store's writer thread, inside one unit of work.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/participant_server.h"
#include "storage/branch_store.h"
#include "storage/records.pb.h"

namespace settle::sdk::internal {

// Buffers a handler's writes so that a NO vote (or a refusal) can drop them while the SDK still
// records the answer in the same unit of work. Reads see the buffered writes first. On a SQL
// store the handler's statements run at once, inside a savepoint that Discard rolls back.
// Exactly one of Apply and Discard ends it (the destructor discards).
class StagingView final : public storage::WorkView {
 public:
  explicit StagingView(storage::WorkView& base);
  ~StagingView() override;
  absl::StatusOr<std::optional<std::string>> Get(storage::Space space,
                                                 const std::string& key) override;
  void Put(storage::Space space, const std::string& key, const std::string& value) override;
  void Delete(storage::Space space, const std::string& key) override;
  storage::SqlTxn* sql() override { return base_.sql(); }
  // Keeps what the handler did.
  void Apply();
  // Drops what the handler did.
  void Discard();

 private:
  storage::WorkView& base_;
  bool ended_ = false;
  std::map<std::pair<storage::Space, std::string>, std::optional<std::string>> writes_;
};

// What one unit of work answers.
struct UnitResult {
  absl::Status error;  // A protocol answer other than OK (e.g. FAILED_PRECONDITION).
  Vote vote;
  StepOutcome step;
  const char* effect = "duplicate";  // For metrics; see ParticipantMetrics::Branch.
};

absl::StatusOr<std::optional<storage::BarrierRecord>> ReadBarrier(storage::WorkView& view,
                                                                  const std::string& key);
void WriteBarrier(storage::WorkView& view, const std::string& key, storage::BarrierRecord rec,
                  absl::Time now);
// The unit's barrier read: false (with out.error set) when the store could not be read.
bool ReadBarrierFor(storage::WorkView& view, const std::string& key,
                    std::optional<storage::BarrierRecord>* rec, UnitResult& out);
// A branch ended before its first call arrived (Abort before Prepare, Compensate before Act):
// the tombstone makes that call, arriving late, refused.
void WriteTombstone(storage::WorkView& view, const std::string& key, absl::Time now,
                    UnitResult& out);
// The edge: a request is checked before any work.
// INVALID_ARGUMENT naming the field unless `txn_id` is a Settle id and `branch_id` in range.
absl::Status CheckBranch(const std::string& txn_id, uint32_t branch_id);
// A call naming another participant than `expected` (the name this service is registered
// under; empty: not checked): FAILED_PRECONDITION. A call naming none is taken as meant here.
absl::Status CheckParticipant(const std::string& expected, const std::string& named);
// Splits a barrier key (BarrierKey: "<txn_id>/<branch_id>"); false if `key` is not one.
bool ParseBarrierKey(const std::string& key, std::string* txn_id, uint32_t* branch_id);
// A ListBranches token is the barrier key of the last branch listed: "<txn_id>/<5 digits>".
absl::Status CheckPageToken(const std::string& token);
// The ParticipantInspect service over `store` (participant_inspect.cc). `store` must outlive it.
std::unique_ptr<grpc::Service> MakeInspectService(storage::BranchStore& store);

}  // namespace settle::sdk::internal

#endif  // SETTLE_CLIENT_BARRIER_H_
