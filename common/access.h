#ifndef SETTLE_COMMON_ACCESS_H_
#define SETTLE_COMMON_ACCESS_H_

// Who may call what: identities (from a client certificate or a bearer token) mapped to roles
// by a roles file, and one table of which roles may call each gRPC method of every Settle
// server. No gRPC here: common/credentials.cc runs Decide() for every call before a handler
// sees it (an AuthMetadataProcessor), so no method can forget its check.
//
// Roles file, one identity per line, its roles last (comma-separated); '#' starts a comment:
//   spiffe://pay.example/payment-api   caller
//   CN=Ops Team,O=Example              operator
//   balance                            participant,coordinator
// A certificate names its holder by each of its SANs (as written, without "DNS:" or "URI:")
// and by its subject ("CN=...,O=..."); the first name the roles file knows is the identity.
//
// Tokens file, one token per line: the identity it stands for, then the SHA-256 of the token in
// hex (`printf %s "$TOKEN" | sha256sum`), so the file holds no usable secret. A call presents
// the token as "authorization: Bearer <token>".

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace settle {

// The roles a method may be called with. Names, so that the files read plainly.
inline constexpr char kRoleCaller[] = "caller";          // Payment APIs: run and read payments.
inline constexpr char kRoleOperator[] = "operator";      // People and tools that run Settle.
// Operators who only look (the console's read-only users): transactions, the audit trail,
// participants, figures and deliveries; no command.
inline constexpr char kRoleViewer[] = "viewer";
inline constexpr char kRoleParticipant[] = "participant";  // Branch services (GetDecision).
// Settle calling its participants, and a shard asking another while the number of shards
// changes.
inline constexpr char kRoleCoordinator[] = "coordinator";

// The roles that may call `method` ("/package.Service/Method"): the one table for every server.
// An empty set with `*is_public` means anyone, with no identity (health checks); a method the
// table does not know is called by no one.
std::set<std::string> RolesFor(absl::string_view method, bool* is_public);

// The outcome of one call's check: OK with the caller's identity; UNAUTHENTICATED (no usable
// credential: no certificate and no token, or a token the file does not hold); or
// PERMISSION_DENIED (an identity without a role that may call the method). Messages name the
// method and the identity, never the token.
struct AccessDecision {
  absl::Status status;
  std::string identity;  // Empty for a public method called without credentials.
};

// The parsed roles and tokens files. Immutable once built; thread-safe.
class AccessPolicy final {
 public:
  // INVALID_ARGUMENT naming the file and line for a line that does not parse or a role that
  // does not exist; NOT_FOUND when a file cannot be read. `tokens_file` may be empty (only
  // certificates identify callers).
  static absl::StatusOr<AccessPolicy> Load(const std::string& roles_file,
                                           const std::string& tokens_file);
  static absl::StatusOr<AccessPolicy> Parse(absl::string_view roles_text,
                                            absl::string_view tokens_text);

  // `authorization` is the call's authorization header ("" without one); `cert_names` the
  // SANs and subject of a client certificate that TLS verified (empty without one). A bearer
  // token, when given, is the identity: a bad one is refused even with a good certificate.
  AccessDecision Decide(absl::string_view method, absl::string_view authorization,
                        const std::vector<std::string>& cert_names) const;

 private:
  std::map<std::string, std::set<std::string>> roles_;  // Identity -> roles.
  std::map<std::string, std::string> token_hashes_;     // SHA-256 hex -> identity.
};

}  // namespace settle

#endif  // SETTLE_COMMON_ACCESS_H_
