#include "common/credentials.h"

#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve TLS with it, and present it to servers that ask for a "
          "client certificate (mutual TLS). Needs --tls_key");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates that verify peers: set, every call this process makes uses TLS "
          "and checks the server's certificate and host name");
ABSL_FLAG(bool, tls_client_auth, false,
          "servers refuse a client without a certificate that --tls_ca verifies (mutual TLS)");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(10),
          "how often the certificate, key and CA files are read again (renewal without restart)");

namespace settle {
namespace {

using grpc::experimental::FileWatcherCertificateProvider;

absl::Status Readable(const std::string& path, const char* flag) {
  if (path.empty() || std::ifstream(path).good()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
}

std::shared_ptr<FileWatcherCertificateProvider> Provider(const TlsOptions& o) {
  const auto seconds =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(o.reload_interval)));
  return std::make_shared<FileWatcherCertificateProvider>(o.key_file, o.cert_file, o.ca_file,
                                                          seconds);
}

}  // namespace

absl::Status ValidateTlsOptions(const TlsOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (o.require_client_cert && (o.ca_file.empty() || o.cert_file.empty())) {
    return absl::InvalidArgumentError(
        "--tls_client_auth needs --tls_ca to verify clients and --tls_cert/--tls_key to serve");
  }
  if (o.reload_interval < absl::Seconds(1) || o.reload_interval > absl::Hours(24)) {
    return absl::InvalidArgumentError("--tls_reload_interval must be between 1s and 24h");
  }
  for (const auto& [path, flag] : {std::pair{o.cert_file, "--tls_cert"},
                                   std::pair{o.key_file, "--tls_key"},
                                   std::pair{o.ca_file, "--tls_ca"}}) {
    if (absl::Status s = Readable(path, flag); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsOptions> TlsOptionsFromFlags() {
  TlsOptions o;
  o.cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.key_file = absl::GetFlag(FLAGS_tls_key);
  o.ca_file = absl::GetFlag(FLAGS_tls_ca);
  o.require_client_cert = absl::GetFlag(FLAGS_tls_client_auth);
  o.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  if (absl::Status s = ValidateTlsOptions(o); !s.ok()) return s;
  return o;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsOptions& o) {
  if (!o.server_tls()) return grpc::InsecureServerCredentials();
  grpc::experimental::TlsServerCredentialsOptions options(Provider(o));
  options.watch_identity_key_cert_pairs();
  if (o.client_tls()) options.watch_root_certs();
  options.set_cert_request_type(o.require_client_cert
                                    ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                    : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsOptions& o) {
  if (!o.client_tls()) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(o));
  options.watch_root_certs();
  if (o.server_tls()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace settle
