// libFuzzer: every on-disk record of both stores, as start-up and queries read it back.
// Coordinator: a transaction record (in clear or sealed) decoded, turned into its protocol,
// resumed as after a crash and shown as GetTransaction shows it; participant, audit and
// registry records parsed. (The participant SDK's barrier records: participant_fuzz.cc plants
// damaged ones in a real BranchStore and calls every Participant method on them.) A damaged
// record must give a status, never a crash.

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "server/engine/modes.h"
#include "server/engine/protocol.h"
#include "server/engine/transaction.h"
#include "server/service/api_convert.h"
#include "storage/record_cipher.h"

namespace {

const settle::storage::RecordCipher& Cipher() {
  static const auto* cipher = [] {
    const std::string path = "/tmp/settle-fuzz-k1.key";
    std::ofstream(path) << std::string(64, 'a');
    return new settle::storage::RecordCipher(
        *settle::storage::RecordCipher::FromKeyFiles({path}));
  }();
  return *cipher;
}

void Exercise(settle::storage::TxnRecord rec) {
  using namespace settle;
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  (void)engine::ResultFromRecord(rec);
  auto resumed = engine::MakeProtocol(rec);
  if (!resumed.ok()) return;
  (void)(*resumed)->Resume(now);
  auto shown = engine::MakeProtocol(std::move(rec));
  engine::Transaction txn(*std::move(shown));
  v1::Transaction out;
  ToTransaction(txn.Snapshot(now, absl::Minutes(1)), &out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace settle::storage;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // In clear, as written before encryption was on.
  if (auto rec = DecodeTxnRecord(nullptr, "id", bytes); rec.ok()) Exercise(*std::move(rec));
  // Sealed: the fuzzer's bytes as a box under the right key (a damaged one must be DATA_LOSS),
  // and its own record sealed properly, which must open to itself.
  TxnRecord sealed;
  sealed.mutable_sealed()->set_key_id("settle-fuzz-k1");
  sealed.mutable_sealed()->set_box(bytes);
  (void)DecodeTxnRecord(&Cipher(), "id", sealed.SerializeAsString());
  TxnRecord plain;
  if (plain.ParseFromString(bytes) && !plain.has_sealed()) {
    auto back = DecodeTxnRecord(&Cipher(), "id", Cipher().Seal("id", bytes));
    if (!back.ok() || back->SerializeAsString() != plain.SerializeAsString()) __builtin_trap();
  }
  ParticipantRecord participant;
  (void)participant.ParseFromString(bytes);
  AuditRecord audit;
  (void)audit.ParseFromString(bytes);
  return 0;
}
