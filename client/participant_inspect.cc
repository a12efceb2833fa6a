// ParticipantInspect: a read-only, paged view of the barrier records.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/barrier.h"
#include "proto/status_mapping.h"
#include "storage/records.pb.h"

namespace settle::sdk::internal {
namespace {

using storage::BarrierRecord;
using storage::Space;

class InspectService final : public v1::ParticipantInspect::CallbackService {
 public:
  explicit InspectService(storage::BranchStore& store) : store_(store) {}

  grpc::ServerUnaryReactor* ListBranches(grpc::CallbackServerContext* context,
                                         const v1::ListBranchesRequest* request,
                                         v1::ListBranchesResponse* response) override {
    auto* reactor = context->DefaultReactor();
    if (request->page_size() < 0 || request->page_size() > 1000) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "page_size is out of range: use 1 to 1000"));
      return reactor;
    }
    const int page_size = request->page_size() == 0 ? 100 : request->page_size();
    if (absl::Status s = CheckPageToken(request->page_token()); !s.ok()) {
      reactor->Finish(ToGrpcStatus(s));
      return reactor;
    }
    const std::string from = request->page_token().empty() ? "" : request->page_token() + '\0';
    absl::Status bad;
    absl::Status s = store_.Scan(
        Space::kBarrier, "", from, [&](const std::string& key, const std::string& value) {
          if (response->branches_size() == page_size) {
            response->set_next_page_token(response->branches().rbegin()->txn_id() + "/" +
                                          absl::StrFormat("%05u",
                                                          response->branches().rbegin()->branch_id()));
            return false;
          }
          BarrierRecord rec;
          std::string txn_id;
          uint32_t branch = 0;
          if (!rec.ParseFromString(value) || !ParseBarrierKey(key, &txn_id, &branch)) {
            bad = absl::DataLossError(absl::StrCat("barrier record ", key, " is unreadable"));
            return false;
          }
          auto* info = response->add_branches();
          info->set_txn_id(txn_id);
          info->set_branch_id(branch);
          info->set_state(static_cast<v1::BarrierState>(rec.state()));
          const int64_t us = rec.update_micros();
          info->mutable_update_time()->set_seconds(us / 1000000);
          info->mutable_update_time()->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
          return true;
        });
    reactor->Finish(ToGrpcStatus(s.ok() ? bad : s));
    return reactor;
  }

 private:
  storage::BranchStore& store_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeInspectService(storage::BranchStore& store) {
  return std::make_unique<InspectService>(store);
}

}  // namespace settle::sdk::internal
