#ifndef SETTLE_LAUNCH_TEST_PKI_H_
#define SETTLE_LAUNCH_TEST_PKI_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/credentials.h"

namespace settle::launch {

// A certificate and its private key, as PEM files.
struct CertFiles {
  std::string cert;
  std::string key;
};

// A throwaway certificate authority, made at test time with the openssl command line (EC P-256
// keys, so it takes milliseconds). Not thread-safe.
class TestPki final {
 public:
  // A new CA called `name`, its files in `dir` (which must exist).
  static absl::StatusOr<TestPki> Create(const std::string& dir, const std::string& name);

  // A certificate for `name` signed by this CA, with `sans` as its subjectAltName
  // ("IP:127.0.0.1,DNS:localhost"), valid for `days` from now; -1: it expired yesterday.
  absl::StatusOr<CertFiles> Issue(const std::string& name, const std::string& sans,
                                  int days = 2) const;

  const std::string& ca_file() const { return ca_.cert; }

 private:
  TestPki(std::string dir, CertFiles ca) : dir_(std::move(dir)), ca_(std::move(ca)) {}
  std::string dir_;
  CertFiles ca_;
};

// Settle's servers with TLS and access control, for tests: a CA, a server certificate for
// 127.0.0.1, and the roles and tokens files that give each identity its token and its roles.
// Not thread-safe.
class TestAccess final {
 public:
  // `identities`: identity -> its roles line ("" : a known token without a role).
  // `extra_roles`: lines added to the roles file as they are (certificates' names).
  static absl::StatusOr<TestAccess> Create(const std::string& dir,
                                           const std::map<std::string, std::string>& identities,
                                           const std::string& extra_roles = "");

  // --tls_cert, --tls_key, --tls_ca, --auth_roles, --auth_tokens; --tls_client_auth if asked.
  std::vector<std::string> ServerFlags(bool client_auth) const;
  // A client with `identity`'s token ("" : none), presenting `cert` if given.
  TlsOptions As(const std::string& identity, const CertFiles& cert = {}) const;
  std::string TokenFile(const std::string& identity) const;
  std::string Token(const std::string& identity) const;

  const TestPki& ca() const { return ca_; }
  const CertFiles& server() const { return server_; }

 private:
  TestAccess(std::string dir, TestPki ca, CertFiles server)
      : dir_(std::move(dir)), ca_(std::move(ca)), server_(std::move(server)) {}
  std::string dir_;
  TestPki ca_;
  CertFiles server_;
};

}  // namespace settle::launch

#endif  // SETTLE_LAUNCH_TEST_PKI_H_
