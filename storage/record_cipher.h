#ifndef SETTLE_STORAGE_RECORD_CIPHER_H_
#define SETTLE_STORAGE_RECORD_CIPHER_H_

// Transaction records encrypted at rest: the decision log's active and finished records (their
// branch payloads carry payment details) are sealed with AES-256-GCM before they reach RocksDB,
// so no file of the data dir (WAL, SST, MANIFEST) holds them in clear. Each stored record
// names the key that sealed it, so keys rotate: new records use the first key, older ones stay
// readable while their key is still given.

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/records.pb.h"

namespace settle::storage {

// Immutable once built; thread-safe.
class RecordCipher final {
 public:
  // Keys from files of 64 hex digits (`openssl rand -hex 32 > 2026-11.key`); a key's id is its
  // file name without the extension (1..64 of [A-Za-z0-9._-]), stored with every record it
  // seals. The first file seals new records; the others only open old ones. INVALID_ARGUMENT
  // naming the file for a bad key or id, a repeated id, or no file at all.
  static absl::StatusOr<RecordCipher> FromKeyFiles(const std::vector<std::string>& files);

  // `serialized` (a TxnRecord) as stored under `id`: a TxnRecord holding only `sealed`, bound
  // to `id` and the key id, so that it opens nowhere else.
  std::string Seal(absl::string_view id, absl::string_view serialized) const;

  const std::string& current_key_id() const { return current_; }

 private:
  friend absl::StatusOr<TxnRecord> DecodeTxnRecord(const RecordCipher* cipher,
                                                   absl::string_view id,
                                                   absl::string_view stored);
  std::string current_;
  std::map<std::string, std::string> keys_;  // Key id -> 32 key bytes.
};

// A stored transaction record, read back: a sealed one opened (DATA_LOSS when its tag does not
// verify: a damaged record, another key under the same id, a record moved to another id;
// FAILED_PRECONDITION naming the key id when that key, or any key, is not given); a plain one
// (written before encryption was turned on) as it is. `cipher` may be null.
absl::StatusOr<TxnRecord> DecodeTxnRecord(const RecordCipher* cipher, absl::string_view id,
                                          absl::string_view stored);

}  // namespace settle::storage

#endif  // SETTLE_STORAGE_RECORD_CIPHER_H_
