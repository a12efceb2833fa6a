#ifndef SETTLE_LAUNCH_TEST_PKI_H_
#define SETTLE_LAUNCH_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"

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

}  // namespace settle::launch

#endif  // SETTLE_LAUNCH_TEST_PKI_H_
