#ifndef SETTLE_COMMON_CREDENTIALS_H_
#define SETTLE_COMMON_CREDENTIALS_H_

// The one place gRPC credentials are built: every server and every channel of every Settle
// process (coordinator, participants, notifier, CLI, bench) gets them here, plaintext only when
// no TLS is configured. Certificates and keys are PEM files, read again from disk every
// `reload_interval`, so that a renewed certificate takes effect without a restart. Servers with
// a roles file check every call's identity and role (common/access.h) before any handler runs.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/access.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"

namespace settle {

// One process's TLS settings: who it is and whom it trusts. A plain value; copy freely.
struct TlsOptions {
  // This process's certificate chain and private key: its identity as a server, and as a
  // client where a server asks for one (mutual TLS). Both or neither.
  std::string cert_file;
  std::string key_file;
  // The CA certificates that verify the peers: the servers this process calls and, with
  // `require_client_cert`, its clients. A client with a CA speaks TLS and checks that the
  // server's certificate names the host it dialled (a SAN, DNS or IP).
  std::string ca_file;
  // Servers: refuse a client without a certificate that `ca_file` verifies (mutual TLS).
  bool require_client_cert = false;
  // How often the files are read again (roles and tokens too).
  absl::Duration reload_interval = absl::Seconds(10);
  // Servers: with a roles file, every call needs an identity with a role for its method
  // (common/access.h); needs TLS. The tokens file adds bearer tokens as identities.
  std::string roles_file;
  std::string tokens_file;
  // Clients: a file holding the bearer token sent with every call (needs TLS: gRPC sends
  // tokens only over a secure channel).
  std::string call_token_file;

  // A server serves TLS when it has a certificate; a client speaks TLS when it has a CA.
  bool server_tls() const { return !cert_file.empty(); }
  bool client_tls() const { return !ca_file.empty(); }
};

// From --tls_cert, --tls_key, --tls_ca, --tls_client_auth, --tls_reload_interval, --auth_roles,
// --auth_tokens and --call_token_file, checked: INVALID_ARGUMENT naming the flag when a file
// cannot be read or parsed, a certificate comes without its key, client authentication is asked
// for without a CA to check it, or roles or a token are given without TLS.
absl::StatusOr<TlsOptions> TlsOptionsFromFlags();

// The same checks for options built in code.
absl::Status ValidateTlsOptions(const TlsOptions& options);

// Credentials for a server: TLS (mutual with `require_client_cert`) when it has a certificate,
// plaintext otherwise. A TLS server refuses plaintext connections.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsOptions& options);

// Credentials for a channel: TLS when a CA is given (presenting the certificate, if any, to
// servers that ask, and the bearer token, if any, with every call), plaintext otherwise.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsOptions& options);

// The access check of one server (common/access.h) with its roles and tokens files read again
// every `reload_interval`; a file that no longer parses keeps the last good policy (and says
// so). gRPC servers run it for every call; the HTTP port (server/http/) runs the same one.
// Refusals are logged. Thread-safe.
class AccessChecker final {
 public:
  explicit AccessChecker(const TlsOptions& options);  // options.roles_file is set.
  AccessDecision Decide(absl::string_view method, absl::string_view authorization,
                        const std::vector<std::string>& cert_names);

 private:
  std::shared_ptr<const AccessPolicy> Current();

  const TlsOptions options_;
  absl::Mutex mu_;
  std::shared_ptr<const AccessPolicy> policy_ ABSL_GUARDED_BY(mu_);
  absl::Time loaded_ ABSL_GUARDED_BY(mu_);
};

// A call the HTTP port makes in process on the gRPC server carries the identity it checked in
// these headers, with this process's secret (random, made at start, never leaves the process);
// CallerIdentity believes the identity only with the secret, so no network caller can pass one.
inline constexpr char kForwardedIdentityHeader[] = "settle-forwarded-identity";
inline constexpr char kForwardedSecretHeader[] = "settle-forwarded-secret";
const std::string& ForwardingSecret();

// The identity a server's access check accepted for this call (a certificate name or a token's
// identity, or the HTTP port's); "" when the server checks no roles. For the audit trail.
std::string CallerIdentity(const grpc::ServerContextBase& context);

}  // namespace settle

#endif  // SETTLE_COMMON_CREDENTIALS_H_
