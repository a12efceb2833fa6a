#include "common/credentials.h"

#include <fstream>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/access.h"
#include "common/crypto.h"
#include "common/echo.h"
#include "common/json_log.h"
#include "grpcpp/security/auth_metadata_processor.h"
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

ABSL_FLAG(std::string, auth_roles, "",
          "roles file (identity, then roles): every call needs an identity with a role that may "
          "call its method; needs --tls_cert. See common/access.h");
ABSL_FLAG(std::string, auth_tokens, "",
          "tokens file (identity, then the SHA-256 hex of its bearer token), with --auth_roles");
ABSL_FLAG(std::string, call_token_file, "",
          "file holding the bearer token this process sends with every call it makes; needs "
          "--tls_ca");

namespace settle {
namespace {

constexpr char kIdentityProperty[] = "settle.identity";

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

// Runs the access check for every call, before its handler: the identity from the bearer token
// or the client certificate, the role from the roles file (AccessChecker).
class AccessProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit AccessProcessor(const TlsOptions& o) : checker_(o) {}

  // Cheap and non-blocking: gRPC then runs it on the call's own thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata*) override {
    absl::string_view method, authorization;
    for (const auto& [key, value] : metadata) {
      if (key == ":path") method = absl::string_view(value.data(), value.size());
      if (key == "authorization") {
        authorization = absl::string_view(value.data(), value.size());
        // Handlers never see the token (nor log it).
        consumed->emplace(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
      }
    }
    std::vector<std::string> names;
    for (const char* property : {GRPC_X509_SAN_PROPERTY_NAME, GRPC_X509_SUBJECT_PROPERTY_NAME}) {
      for (const grpc::string_ref& v : context->FindPropertyValues(property)) {
        names.emplace_back(v.data(), v.size());
      }
    }
    const AccessDecision d = checker_.Decide(method, authorization, names);
    if (!d.status.ok()) {
      return grpc::Status(static_cast<grpc::StatusCode>(d.status.code()),
                          std::string(d.status.message()));
    }
    if (!d.identity.empty()) context->AddProperty(kIdentityProperty, d.identity);
    return grpc::Status::OK;
  }

 private:
  AccessChecker checker_;
};

}  // namespace

AccessChecker::AccessChecker(const TlsOptions& o) : options_(o), loaded_(absl::Now()) {
  // Validated at start; a file changed since then refuses every call until it parses again.
  auto policy = AccessPolicy::Load(o.roles_file, o.tokens_file);
  policy_ = std::make_shared<const AccessPolicy>(policy.ok() ? *std::move(policy) : AccessPolicy());
}

std::shared_ptr<const AccessPolicy> AccessChecker::Current() {
  absl::MutexLock lock(&mu_);
  if (absl::Now() - loaded_ >= options_.reload_interval) {
    loaded_ = absl::Now();
    auto fresh = AccessPolicy::Load(options_.roles_file, options_.tokens_file);
    if (fresh.ok()) {
      policy_ = std::make_shared<const AccessPolicy>(*std::move(fresh));
    } else {
      Log(LogLevel::kError, "roles or tokens file not reloaded; the last good one stays",
          {{"error", std::string(fresh.status().message())}});
    }
  }
  return policy_;
}

AccessDecision AccessChecker::Decide(absl::string_view method, absl::string_view authorization,
                                     const std::vector<std::string>& cert_names) {
  AccessDecision d = Current()->Decide(method, authorization, cert_names);
  if (!d.status.ok()) {
    Log(LogLevel::kWarning, "call refused",
        {{"method", Echo(method)},
         {"identity", Echo(d.identity)},
         {"error", std::string(d.status.message())}});
  }
  return d;
}

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
  if (!o.roles_file.empty() && !o.server_tls()) {
    return absl::InvalidArgumentError("--auth_roles needs --tls_cert: identities ride on TLS");
  }
  if (!o.tokens_file.empty() && o.roles_file.empty()) {
    return absl::InvalidArgumentError("--auth_tokens needs --auth_roles");
  }
  if (!o.call_token_file.empty() && !o.client_tls()) {
    return absl::InvalidArgumentError(
        "--call_token_file needs --tls_ca: a token is never sent in plaintext");
  }
  for (const auto& [path, flag] : {std::pair{o.cert_file, "--tls_cert"},
                                   std::pair{o.key_file, "--tls_key"},
                                   std::pair{o.ca_file, "--tls_ca"},
                                   std::pair{o.call_token_file, "--call_token_file"}}) {
    if (absl::Status s = Readable(path, flag); !s.ok()) return s;
  }
  if (!o.roles_file.empty()) {
    auto policy = AccessPolicy::Load(o.roles_file, o.tokens_file);
    if (!policy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth_roles/--auth_tokens: ", policy.status().message()));
    }
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
  o.roles_file = absl::GetFlag(FLAGS_auth_roles);
  o.tokens_file = absl::GetFlag(FLAGS_auth_tokens);
  o.call_token_file = absl::GetFlag(FLAGS_call_token_file);
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
  auto credentials = grpc::experimental::TlsServerCredentials(options);
  if (!o.roles_file.empty()) {
    credentials->SetAuthMetadataProcessor(std::make_shared<AccessProcessor>(o));
  }
  return credentials;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsOptions& o) {
  if (!o.client_tls()) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(o));
  options.watch_root_certs();
  if (o.server_tls()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  auto credentials = grpc::experimental::TlsCredentials(options);
  if (o.call_token_file.empty()) return credentials;
  // Read once: a process that must renew its token is restarted with the new file.
  auto token = crypto::ReadSecretFile(o.call_token_file);
  return grpc::CompositeChannelCredentials(
      credentials, grpc::AccessTokenCredentials(token.ok() ? *token : std::string()));
}

std::string CallerIdentity(const grpc::ServerContextBase& context) {
  const auto auth = context.auth_context();
  if (auth != nullptr) {
    const auto values = auth->FindPropertyValues(kIdentityProperty);
    if (!values.empty()) return std::string(values.front().data(), values.front().size());
  }
  // The HTTP port's calls come in process, with the identity it checked and the secret.
  const auto& metadata = context.client_metadata();
  auto secret = metadata.find(kForwardedSecretHeader);
  auto identity = metadata.find(kForwardedIdentityHeader);
  if (secret != metadata.end() && identity != metadata.end() &&
      crypto::ConstantTimeEquals(absl::string_view(secret->second.data(), secret->second.size()),
                                 ForwardingSecret())) {
    return std::string(identity->second.data(), identity->second.size());
  }
  return "";
}

const std::string& ForwardingSecret() {
  static const auto* secret = new std::string(crypto::RandomHex(32));
  return *secret;
}

}  // namespace settle
