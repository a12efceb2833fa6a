#include "launch/test_pki.h"

#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"

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

}  // namespace settle::launch
