#include "messaging/nats_internal.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace settle::messaging {

absl::Status NatsError(const std::string& what, natsStatus s, jsErrCode code) {
  const char* last = nats_GetLastError(nullptr);
  const std::string detail = absl::StrCat(what, ": ", natsStatus_GetText(s),
                                          code != jsErrCode{} ? absl::StrCat(" (JetStream error ",
                                                                             code, ")")
                                                              : "",
                                          last != nullptr && *last != '\0' ? ": " : "",
                                          last != nullptr ? last : "");
  if (code == JSNotEnabledErr || code == JSNotEnabledForAccountErr) {
    return absl::FailedPreconditionError(absl::StrCat(detail, "; start nats-server with -js"));
  }
  switch (s) {
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_ADDRESS_MISSING:
    case NATS_MAX_PAYLOAD:
      return absl::InvalidArgumentError(detail);
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
      return absl::PermissionDeniedError(detail);
    case NATS_TIMEOUT:
      return absl::DeadlineExceededError(detail);
    default:
      // No server, a lost connection, no JetStream to answer (no responders), I/O: try again.
      return absl::UnavailableError(detail);
  }
}

absl::Status AddNatsStream(jsCtx* js, const NatsOptions& options, jsStorageType storage) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subjects[] = {options.subject.c_str()};
  cfg.Name = options.stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = storage;
  cfg.Retention = js_LimitsPolicy;
  cfg.Replicas = options.replicas;
  cfg.Duplicates = absl::ToInt64Nanoseconds(options.duplicate_window);
  jsStreamInfo* si = nullptr;
  jsErrCode code{};
  if (natsStatus s = js_AddStream(&si, js, &cfg, nullptr, &code); s != NATS_OK) {
    return NatsError(absl::StrCat("creating stream ", options.stream), s, code);
  }
  jsStreamInfo_Destroy(si);
  return absl::OkStatus();
}

NatsConnection::~NatsConnection() {
  Close();
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
}

absl::Status NatsConnection::Connect(const NatsOptions& options) {
  std::vector<std::string> urls;
  for (absl::string_view u : absl::StrSplit(options.url, ',', absl::SkipWhitespace())) {
    urls.emplace_back(absl::StripAsciiWhitespace(u));
  }
  if (urls.empty()) return absl::InvalidArgumentError("NATS url is empty");
  std::vector<const char*> servers;
  for (const std::string& u : urls) servers.push_back(u.c_str());
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) return NatsError("NATS options", s);
  auto fail = [&](const std::string& what, natsStatus status) {
    natsOptions_Destroy(opts);
    return NatsError(what, status);
  };
  if ((s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()))) !=
      NATS_OK) {
    return fail("NATS url", s);
  }
  natsOptions_SetTimeout(opts, absl::ToInt64Milliseconds(options.connect_timeout));
  natsOptions_SetAllowReconnect(opts, false);  // The relay reconnects, with its backoff.
  if (!options.ca_file.empty()) {
    natsOptions_SetSecure(opts, true);
    if ((s = natsOptions_LoadCATrustedCertificates(opts, options.ca_file.c_str())) != NATS_OK) {
      return fail(absl::StrCat("NATS CA file ", options.ca_file), NATS_INVALID_ARG);
    }
  }
  if (!options.creds_file.empty() &&
      (s = natsOptions_SetUserCredentialsFromFiles(opts, options.creds_file.c_str(), nullptr)) !=
          NATS_OK) {
    return fail(absl::StrCat("NATS credentials file ", options.creds_file), NATS_INVALID_ARG);
  }
  s = natsConnection_Connect(&nc_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return NatsError(absl::StrCat("connecting to NATS at ", options.url), s);
  return absl::OkStatus();
}

bool NatsConnection::Connected() const {
  return nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

void NatsConnection::Close() {
  if (nc_ != nullptr) natsConnection_Close(nc_);
}

}  // namespace settle::messaging
