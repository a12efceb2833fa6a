#ifndef SETTLE_COMMON_CRYPTO_H_
#define SETTLE_COMMON_CRYPTO_H_

// Settle's cryptography, through OpenSSL: the only file pair that includes it (STYLE.md 11).
// Pure functions, thread-safe.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct ssl_st;  // OpenSSL's SSL, as the HTTP server (cpp-httplib) holds it.

namespace settle::crypto {

// The names the peer's verified certificate gives its holder, as gRPC names them for the
// roles file (common/access.h): each DNS, URI and email SAN as written, then the subject in
// RFC 2253 form ("CN=Ops Team,O=Example"). Empty without a certificate.
std::vector<std::string> PeerCertificateNames(const ssl_st* ssl);

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex digits.
std::string HmacSha256Hex(absl::string_view key, absl::string_view data);

// SHA-256 of `data`, as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

// AES-256-GCM under a key of 32 bytes, with a key and a nonce used once: each call derives its
// own key from `key` and 16 random bytes (HMAC-SHA256), so one key may seal any number of
// records (a random 96-bit nonce alone would allow about 2^32). Returns salt, nonce,
// ciphertext and the 16-byte tag, concatenated; `aad` is authenticated, not stored.
std::string SealAes256Gcm(absl::string_view key, absl::string_view plaintext,
                          absl::string_view aad);
// Opens what SealAes256Gcm returned. DATA_LOSS when the tag does not verify: another key,
// other `aad`, or damaged bytes.
absl::StatusOr<std::string> OpenAes256Gcm(absl::string_view key, absl::string_view sealed,
                                          absl::string_view aad);
inline constexpr size_t kAes256KeyBytes = 32;

// `n` bytes from the OS's random source, as 2n lowercase hex digits.
std::string RandomHex(int n);

// Compares two strings in time that depends only on their length (a signature check that does
// not leak how many leading bytes matched).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// A secret read from a file: its whole content, one trailing newline removed. NOT_FOUND when it
// cannot be read, INVALID_ARGUMENT when it is empty; the message names the file, never the secret.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace settle::crypto

#endif  // SETTLE_COMMON_CRYPTO_H_
