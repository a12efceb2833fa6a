#include "storage/record_cipher.h"

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"

namespace settle::storage {
namespace {

// What a sealed record is bound to besides its bytes.
std::string BoundTo(absl::string_view key_id, absl::string_view id) {
  return absl::StrCat(key_id, std::string(1, '\0'), id);
}

bool ValidKeyId(absl::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
             absl::string_view::npos;
}

}  // namespace

absl::StatusOr<RecordCipher> RecordCipher::FromKeyFiles(const std::vector<std::string>& files) {
  if (files.empty()) return absl::InvalidArgumentError("no key file given");
  RecordCipher cipher;
  for (const std::string& file : files) {
    const std::string id = std::filesystem::path(file).stem().string();
    if (!ValidKeyId(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": the file name (without extension) is the key id: 1..64 of [A-Za-z0-9._-]"));
    }
    auto hex = crypto::ReadSecretFile(file);
    if (!hex.ok()) return absl::InvalidArgumentError(hex.status().message());
    if (hex->size() != 2 * crypto::kAes256KeyBytes ||
        hex->find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": want 64 hex digits (openssl rand -hex 32), not ", hex->size(), " characters"));
    }
    if (!cipher.keys_.emplace(id, absl::HexStringToBytes(*hex)).second) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": key id ", id, " given twice"));
    }
    if (cipher.current_.empty()) cipher.current_ = id;
  }
  return cipher;
}

std::string RecordCipher::Seal(absl::string_view id, absl::string_view serialized) const {
  TxnRecord stored;
  SealedRecord* sealed = stored.mutable_sealed();
  sealed->set_key_id(current_);
  sealed->set_box(
      crypto::SealAes256Gcm(keys_.at(current_), serialized, BoundTo(current_, id)));
  return stored.SerializeAsString();
}

absl::StatusOr<TxnRecord> DecodeTxnRecord(const RecordCipher* cipher, absl::string_view id,
                                          absl::string_view stored) {
  TxnRecord rec;
  if (!rec.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError("the log holds an unreadable transaction record; it is damaged");
  }
  if (!rec.has_sealed()) return rec;
  const std::string& key_id = rec.sealed().key_id();
  auto key = cipher == nullptr ? nullptr : &cipher->keys_;
  if (key == nullptr || key->count(key_id) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("transaction records are sealed with key '", absl::CEscape(key_id),
                     "', which --at_rest_keys does not give"));
  }
  auto plain = crypto::OpenAes256Gcm(key->at(key_id), rec.sealed().box(), BoundTo(key_id, id));
  if (!plain.ok()) {
    return absl::DataLossError(absl::StrCat("transaction record ", absl::CEscape(id.substr(0, 64)),
                                            ": ", plain.status().message()));
  }
  TxnRecord open;
  if (!open.ParseFromString(*plain) || open.has_sealed()) {
    return absl::DataLossError("a sealed transaction record holds no readable record");
  }
  return open;
}

}  // namespace settle::storage
