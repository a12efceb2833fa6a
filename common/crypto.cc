#include "common/crypto.h"

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "openssl/crypto.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/rand.h"
#include "openssl/sha.h"
#include "openssl/ssl.h"
#include "openssl/x509v3.h"

namespace settle::crypto {

std::vector<std::string> PeerCertificateNames(const ssl_st* ssl) {
  std::vector<std::string> names;
  if (ssl == nullptr) return names;
  std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl), X509_free);
  if (cert == nullptr) return names;
  using Names = STACK_OF(GENERAL_NAME);
  std::unique_ptr<Names, void (*)(Names*)> sans(
      static_cast<Names*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)),
      [](Names* n) { GENERAL_NAMES_free(n); });
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans.get(), i);
    if (n->type == GEN_DNS || n->type == GEN_URI || n->type == GEN_EMAIL) {
      const ASN1_IA5STRING* v = n->d.ia5;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                         static_cast<size_t>(ASN1_STRING_length(v)));
    }
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (bio != nullptr &&
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    if (len > 0) names.emplace_back(data, static_cast<size_t>(len));
  }
  return names;
}

std::string HmacSha256Hex(absl::string_view key, absl::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // One-shot HMAC cannot fail for SHA-256 with in-memory inputs.
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The key one record is sealed with: HMAC-SHA256(key, salt), 32 bytes.
std::string RecordKey(absl::string_view key, absl::string_view salt) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), Bytes(salt), salt.size(), out,
       &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// One AES-256-GCM pass. Encrypting, `tag` is written; decrypting, it is checked (false: the
// tag does not verify). `out` has room for `in`.
bool Gcm(bool encrypt, absl::string_view key, absl::string_view nonce, absl::string_view in,
         absl::string_view aad, unsigned char* out, unsigned char* tag) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                       &EVP_CIPHER_CTX_free);
  int len = 0;
  const auto init = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
  const auto update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;
  bool ok = ctx != nullptr && init(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            init(ctx.get(), nullptr, nullptr, Bytes(key), Bytes(nonce)) == 1 &&
            (aad.empty() ||
             update(ctx.get(), nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) == 1) &&
            (in.empty() ||
             update(ctx.get(), out, &len, Bytes(in), static_cast<int>(in.size())) == 1);
  if (!ok) return false;
  if (encrypt) {
    return EVP_EncryptFinal_ex(ctx.get(), out + in.size(), &len) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) == 1;
  }
  return EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
         EVP_DecryptFinal_ex(ctx.get(), out + in.size(), &len) == 1;
}

}  // namespace

std::string SealAes256Gcm(absl::string_view key, absl::string_view plaintext,
                          absl::string_view aad) {
  std::string sealed(kSaltBytes + kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  // RAND_bytes fails only when the OS has no entropy to give; sealing must not go on then.
  SETTLE_CHECK(RAND_bytes(out, kSaltBytes + kNonceBytes) == 1) << "no random bytes for a nonce";
  const absl::string_view salt = absl::string_view(sealed).substr(0, kSaltBytes);
  const absl::string_view nonce = absl::string_view(sealed).substr(kSaltBytes, kNonceBytes);
  unsigned char* body = out + kSaltBytes + kNonceBytes;
  SETTLE_CHECK(Gcm(true, RecordKey(key, salt), nonce, plaintext, aad, body,
                   body + plaintext.size()))
      << "AES-256-GCM failed";
  return sealed;
}

absl::StatusOr<std::string> OpenAes256Gcm(absl::string_view key, absl::string_view sealed,
                                          absl::string_view aad) {
  if (sealed.size() < kSaltBytes + kNonceBytes + kTagBytes) {
    return absl::DataLossError("a sealed record is too short to hold its nonce and tag");
  }
  const absl::string_view salt = sealed.substr(0, kSaltBytes);
  const absl::string_view nonce = sealed.substr(kSaltBytes, kNonceBytes);
  const absl::string_view body =
      sealed.substr(kSaltBytes + kNonceBytes, sealed.size() - kSaltBytes - kNonceBytes - kTagBytes);
  std::string tag(sealed.substr(sealed.size() - kTagBytes));
  std::string plain(body.size(), '\0');
  if (!Gcm(false, RecordKey(key, salt), nonce, body, aad,
           reinterpret_cast<unsigned char*>(plain.data()),
           reinterpret_cast<unsigned char*>(tag.data()))) {
    return absl::DataLossError("a sealed record's tag does not verify (another key, or damaged)");
  }
  return plain;
}

std::string RandomHex(int n) {
  std::string bytes(static_cast<size_t>(n), '\0');
  SETTLE_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), n) == 1)
      << "no random bytes";
  return absl::BytesToHexString(bytes);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the secret file ", path));
  std::ostringstream content;
  content << in.rdbuf();
  std::string secret = content.str();
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat("the secret file ", path, " is empty"));
  return secret;
}

}  // namespace settle::crypto
