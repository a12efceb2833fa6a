#ifndef SETTLE_COMMON_CRYPTO_H_
#define SETTLE_COMMON_CRYPTO_H_

// Settle's cryptography, through OpenSSL: the only file pair that includes it (STYLE.md 11).
// Pure functions, thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace settle::crypto {

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex digits.
std::string HmacSha256Hex(absl::string_view key, absl::string_view data);

// Compares two strings in time that depends only on their length (a signature check that does
// not leak how many leading bytes matched).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// A secret read from a file: its whole content, one trailing newline removed. NOT_FOUND when it
// cannot be read, INVALID_ARGUMENT when it is empty; the message names the file, never the secret.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace settle::crypto

#endif  // SETTLE_COMMON_CRYPTO_H_
