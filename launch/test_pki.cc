#include "launch/test_pki.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"

namespace settle::launch {
namespace {

// Runs an openssl command line; its output goes to <dir>/openssl.log.
absl::Status OpenSsl(const std::string& dir, const std::string& args) {
  const std::string cmd = absl::StrCat("openssl ", args, " >>", dir, "/openssl.log 2>&1");
  if (std::system(cmd.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", cmd, " (see ", dir, "/openssl.log)"));
  }
  return absl::OkStatus();
}

constexpr char kNewKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

}  // namespace

absl::StatusOr<TestPki> TestPki::Create(const std::string& dir, const std::string& name) {
  CertFiles ca{absl::StrCat(dir, "/", name, ".pem"), absl::StrCat(dir, "/", name, ".key")};
  const absl::Status s =
      OpenSsl(dir, absl::StrCat("req -x509 ", kNewKey, " -keyout ", ca.key, " -out ", ca.cert,
                                " -subj '/CN=", name, "' -days 2"));
  if (!s.ok()) return s;
  return TestPki(dir, std::move(ca));
}

absl::StatusOr<CertFiles> TestPki::Issue(const std::string& name, const std::string& sans,
                                         int days) const {
  const std::string base = absl::StrCat(dir_, "/", name);
  CertFiles out{base + ".pem", base + ".key"};
  std::ofstream(base + ".ext") << "subjectAltName=" << sans << "\n";
  absl::Status s = OpenSsl(dir_, absl::StrCat("req ", kNewKey, " -keyout ", out.key, " -out ",
                                              base, ".csr -subj '/CN=", name, "'"));
  if (!s.ok()) return s;
  s = OpenSsl(dir_, absl::StrCat("x509 -req -in ", base, ".csr -CA ", ca_.cert, " -CAkey ",
                                 ca_.key, " -CAcreateserial -out ", out.cert, " -days ", days,
                                 " -extfile ", base, ".ext"));
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<TestAccess> TestAccess::Create(const std::string& dir,
                                              const std::map<std::string, std::string>& identities,
                                              const std::string& extra_roles) {
  auto ca = TestPki::Create(dir, "ca");
  if (!ca.ok()) return ca.status();
  auto server = ca->Issue("server", "IP:127.0.0.1");
  if (!server.ok()) return server.status();
  TestAccess access(dir, *std::move(ca), *std::move(server));
  std::ofstream roles(dir + "/roles"), tokens(dir + "/tokens");
  roles << "# identity  roles\n" << extra_roles;
  for (const auto& [id, role] : identities) {
    const std::string token = absl::StrCat("token-of-", id, "-", ::getpid());
    std::ofstream(access.TokenFile(id)) << token << "\n";
    tokens << id << " " << crypto::Sha256Hex(token) << "\n";
    if (!role.empty()) roles << id << "   " << role << "\n";
  }
  return access;
}

std::vector<std::string> TestAccess::ServerFlags(bool client_auth) const {
  std::vector<std::string> flags = {"--tls_cert=" + server_.cert, "--tls_key=" + server_.key,
                                    "--tls_ca=" + ca_.ca_file(), "--auth_roles=" + dir_ + "/roles",
                                    "--auth_tokens=" + dir_ + "/tokens"};
  if (client_auth) flags.push_back("--tls_client_auth");
  return flags;
}

TlsOptions TestAccess::As(const std::string& identity, const CertFiles& cert) const {
  TlsOptions o;
  o.ca_file = ca_.ca_file();
  if (!identity.empty()) o.call_token_file = TokenFile(identity);
  o.cert_file = cert.cert;
  o.key_file = cert.key;
  return o;
}

std::string TestAccess::TokenFile(const std::string& identity) const {
  return absl::StrCat(dir_, "/", identity, ".token");
}

std::string TestAccess::Token(const std::string& identity) const {
  std::ifstream in(TokenFile(identity));
  std::string token;
  std::getline(in, token);
  return token;
}

}  // namespace settle::launch
