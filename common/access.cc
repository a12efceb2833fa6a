#include "common/access.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/echo.h"

namespace settle {
namespace {

// Which roles call which services. A method listed alone overrides its service's line.
struct Rule {
  const char* prefix;  // "/package.Service/" or a whole method path.
  std::set<std::string> roles;
};

const std::vector<Rule>& Rules() {
  static const auto* rules = new std::vector<Rule>{
      // Shards ask each other while the number of shards changes (only_if_known).
      {"/settle.v1.Coordinator/Execute", {kRoleCaller, kRoleCoordinator}},
      {"/settle.v1.Coordinator/GetTransaction", {kRoleCaller, kRoleOperator, kRoleViewer}},
      {"/settle.v1.Coordinator/ListTransactions", {kRoleCaller, kRoleOperator, kRoleViewer}},
      {"/settle.v1.Coordinator/ListOperatorCommands", {kRoleOperator, kRoleViewer}},
      {"/settle.v1.Coordinator/GetFigures", {kRoleOperator, kRoleViewer}},
      {"/settle.v1.Coordinator/", {kRoleOperator}},  // Abort, retry, resolve, drain.
      {"/settle.v1.Registry/ListParticipants", {kRoleOperator, kRoleViewer}},
      {"/settle.v1.Registry/", {kRoleOperator}},
      {"/settle.v1.DecisionService/", {kRoleParticipant}},
      // Three-phase peers ask each other; the coordinator asks too.
      {"/settle.v1.Participant/GetBranchState", {kRoleParticipant, kRoleCoordinator}},
      {"/settle.v1.Participant/", {kRoleCoordinator}},
      {"/settle.v1.ParticipantInspect/", {kRoleOperator}},
      {"/settle.v1.BalanceAdmin/", {kRoleOperator}},
      {"/settle.v1.LedgerAdmin/", {kRoleOperator}},
      {"/settle.v1.NotificationAdmin/", {kRoleOperator}},
      {"/settle.v1.GatewayAdmin/", {kRoleOperator}},
      {"/settle.v1.NotifierAdmin/ListDeliveries", {kRoleOperator, kRoleViewer}},
      {"/settle.v1.NotifierAdmin/", {kRoleOperator}},
      {"/grpc.reflection.v1alpha.ServerReflection/", {kRoleOperator}},
  };
  return *rules;
}

constexpr char kHealthPrefix[] = "/grpc.health.v1.Health/";

bool KnownRole(absl::string_view r) {
  return r == kRoleCaller || r == kRoleOperator || r == kRoleViewer || r == kRoleParticipant ||
         r == kRoleCoordinator;
}

// Calls `line(number, text)` for each line that is not blank or a comment, trimmed.
absl::Status ForEachLine(absl::string_view text,
                         const std::function<absl::Status(int, absl::string_view)>& line) {
  int number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++number;
    absl::string_view l = raw.substr(0, raw.find('#'));
    l = absl::StripAsciiWhitespace(l);
    if (l.empty()) continue;
    if (absl::Status s = line(number, l); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// A line's last word and everything before it, trimmed.
bool SplitLast(absl::string_view l, absl::string_view* head, absl::string_view* last) {
  const size_t cut = l.find_last_of(" \t");
  if (cut == absl::string_view::npos) return false;
  *head = absl::StripAsciiWhitespace(l.substr(0, cut));
  *last = l.substr(cut + 1);
  return !head->empty() && !last->empty();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status WithFile(absl::Status s, const std::string& path) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

}  // namespace

std::set<std::string> RolesFor(absl::string_view method, bool* is_public) {
  *is_public = absl::StartsWith(method, kHealthPrefix);
  if (*is_public) return {};
  for (const Rule& rule : Rules()) {
    const absl::string_view prefix = rule.prefix;
    if (prefix.back() == '/' ? absl::StartsWith(method, prefix) : method == prefix) {
      return rule.roles;
    }
  }
  return {};
}

absl::StatusOr<AccessPolicy> AccessPolicy::Parse(absl::string_view roles_text,
                                                 absl::string_view tokens_text) {
  AccessPolicy policy;
  absl::Status s = ForEachLine(roles_text, [&](int n, absl::string_view l) {
    absl::string_view identity, roles;
    if (!SplitLast(l, &identity, &roles)) {
      return absl::InvalidArgumentError(
          absl::StrCat("roles line ", n, ": want '<identity> <role>[,<role>]'"));
    }
    for (absl::string_view role : absl::StrSplit(roles, ',')) {
      if (!KnownRole(role)) {
        return absl::InvalidArgumentError(
            absl::StrCat("roles line ", n, ": unknown role ", Echo(role),
                         " (caller, operator, viewer, participant or coordinator)"));
      }
      policy.roles_[std::string(identity)].insert(std::string(role));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  s = ForEachLine(tokens_text, [&](int n, absl::string_view l) {
    absl::string_view identity, hash;
    if (!SplitLast(l, &identity, &hash) || hash.size() != 64 ||
        hash.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens line ", n, ": want '<identity> <sha256 of the token, 64 lowercase hex>'"));
    }
    policy.token_hashes_[std::string(hash)] = std::string(identity);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return policy;
}

absl::StatusOr<AccessPolicy> AccessPolicy::Load(const std::string& roles_file,
                                                const std::string& tokens_file) {
  auto roles = ReadFile(roles_file);
  if (!roles.ok()) return roles.status();
  std::string tokens;
  if (!tokens_file.empty()) {
    auto t = ReadFile(tokens_file);
    if (!t.ok()) return t.status();
    tokens = *std::move(t);
  }
  auto policy = Parse(*roles, tokens);
  if (!policy.ok()) {
    const bool roles_line = absl::StartsWith(policy.status().message(), "roles");
    return WithFile(policy.status(), roles_line ? roles_file : tokens_file);
  }
  return policy;
}

AccessDecision AccessPolicy::Decide(absl::string_view method, absl::string_view authorization,
                                    const std::vector<std::string>& cert_names) const {
  bool is_public = false;
  const std::set<std::string> allowed = RolesFor(method, &is_public);
  std::string identity;
  if (!authorization.empty()) {
    constexpr absl::string_view kBearer = "Bearer ";
    if (!absl::StartsWith(authorization, kBearer)) {
      return {absl::UnauthenticatedError("the authorization header is not 'Bearer <token>'"), ""};
    }
    auto it = token_hashes_.find(crypto::Sha256Hex(authorization.substr(kBearer.size())));
    if (it == token_hashes_.end()) {
      return {absl::UnauthenticatedError("the bearer token is not known here"), ""};
    }
    identity = it->second;
  } else {
    for (const std::string& name : cert_names) {
      if (roles_.count(name) > 0) {
        identity = name;
        break;
      }
    }
    if (identity.empty() && !cert_names.empty()) identity = cert_names.back();
  }
  if (is_public) return {absl::OkStatus(), identity};
  if (identity.empty()) {
    return {absl::UnauthenticatedError(absl::StrCat(
        Echo(method), " needs a client certificate or a bearer token")), ""};
  }
  auto roles = roles_.find(identity);
  if (roles != roles_.end()) {
    for (const std::string& role : roles->second) {
      if (allowed.count(role) > 0) return {absl::OkStatus(), identity};
    }
  }
  const std::string need = allowed.empty() ? "no role may call it"
                                           : absl::StrCat("it needs ", absl::StrJoin(allowed, " or "));
  return {absl::PermissionDeniedError(absl::StrCat(
      Echo(identity), " may not call ", Echo(method), ": ", need)), ""};
}

}  // namespace settle
