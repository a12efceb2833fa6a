#include "server/http/http_gateway.h"

#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "common/crypto.h"
#include "common/echo.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "httplib.h"
#include "server/http/console_assets.h"

namespace settle::http {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// A call may be an Execute that waits for its outcome, up to --max_txn_timeout (5 min).
constexpr absl::Duration kCallDeadline = absl::Minutes(6);

// grpc-gateway's mapping, which HTTP clients of gRPC services already know.
int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

// {"code": 3, "status": "INVALID_ARGUMENT", "message": "..."}, escaped by protobuf's printer.
std::string ErrorBody(const absl::Status& s) {
  google::protobuf::Struct body;
  auto& fields = *body.mutable_fields();
  fields["code"].set_number_value(static_cast<int>(s.code()));
  fields["status"].set_string_value(absl::StatusCodeToString(s.code()));
  fields["message"].set_string_value(std::string(s.message()));
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(body, &out).ok()) out = "{}";
  return out;
}

void Fail(httplib::Response& res, const absl::Status& s) {
  res.status = HttpStatusOf(s.code());
  res.set_content(ErrorBody(s), "application/json");
}

// The console's pages may run their own scripts and styles and call this port, nothing else:
// no inline script, no other origin, no frame around them.
constexpr char kConsolePolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const char* ContentTypeOf(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// GET /console/<name>: one of the embedded files, under the console's policy.
void ServeAsset(const std::string& name, httplib::Response& res) {
  for (const ConsoleAsset& a : ConsoleAssets()) {
    if (a.name != name) continue;
    res.headers.erase("Content-Security-Policy");
    res.set_header("Content-Security-Policy", kConsolePolicy);
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_content(std::string(a.body), ContentTypeOf(name));
    return;
  }
  Fail(res, absl::NotFoundError(absl::StrCat("the console has no file ", Echo(name))));
}

// 127.0.0.1, any 127.x, ::1 or localhost.
bool IsLoopback(absl::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || absl::StartsWith(host, "127.");
}

}  // namespace

struct HttpGateway::State {
  explicit State(HttpGatewayOptions o) : options(std::move(o)) {}

  HttpGatewayOptions options;
  std::unique_ptr<AccessChecker> access;  // With a roles file.
  std::unique_ptr<httplib::Server> server;
  std::unique_ptr<grpc::GenericStub> stub;  // In process, on the gRPC server.
  std::thread listener;

  void Handle(const httplib::Request& req, httplib::Response& res) const;
};

void HttpGateway::State::Handle(const httplib::Request& req, httplib::Response& res) const {
  const std::string service = req.matches[1], method = req.matches[2];
  const std::string path = absl::StrCat("/", service, "/", method);
  // A page of another site may post here with the browser's client certificate: such a request
  // carries its Origin, and a JSON body cannot be sent across origins without a preflight,
  // which this port never grants.
  if (req.has_header("Origin")) {
    const std::string origin = req.get_header_value("Origin");
    const std::string host = req.get_header_value("Host");
    if (origin != absl::StrCat("https://", host) && origin != absl::StrCat("http://", host)) {
      return Fail(res, absl::PermissionDeniedError(
                           absl::StrCat("Origin ", Echo(origin),
                                        " is not this server's; requests from other "
                                        "sites are refused")));
    }
  }
  if (!absl::StartsWith(req.get_header_value("Content-Type"), "application/json")) {
    res.status = 415;
    res.set_content(ErrorBody(absl::InvalidArgumentError(
                        absl::StrCat("Content-Type must be application/json (got ",
                                     Echo(req.get_header_value("Content-Type")),
                                     "): the body is the request in protobuf's JSON mapping"))),
                    "application/json");
    return;
  }
  const MethodDescriptor* md = nullptr;
  for (const std::string& s : options.services) {
    if (s == service) {
      md = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          absl::StrCat(service, ".", method));
    }
  }
  if (md == nullptr || md->client_streaming() || md->server_streaming()) {
    return Fail(res, absl::NotFoundError(absl::StrCat("no method ", Echo(path),
                                                      " here: POST /<service>/<method>, e.g. "
                                                      "/settle.v1.Coordinator/GetTransaction")));
  }
  std::string identity;
  if (access != nullptr) {
    const AccessDecision d = access->Decide(path, req.get_header_value("Authorization"),
                                            crypto::PeerCertificateNames(req.ssl));
    if (!d.status.ok()) return Fail(res, d.status);
    identity = d.identity;
  }

  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(md->input_type());
  std::unique_ptr<Message> request(prototype->New());
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;  // A misspelt field is an error, not a silent default.
  const std::string body = req.body.empty() ? "{}" : req.body;
  if (auto s = google::protobuf::util::JsonStringToMessage(body, request.get(), parse); !s.ok()) {
    return Fail(res, absl::InvalidArgumentError(absl::StrCat(
                         "the body is not a ", md->input_type()->full_name(),
                         " in protobuf's JSON mapping: ", Echo(s.message().as_string()))));
  }

  std::string wire;
  request->SerializeToString(&wire);
  grpc::Slice slice(wire);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  if (!identity.empty()) {
    context.AddMetadata(kForwardedIdentityHeader, identity);
    context.AddMetadata(kForwardedSecretHeader, ForwardingSecret());
  }
  grpc::Status status;
  absl::Notification done;
  stub->UnaryCall(&context, path, grpc::StubOptions(), &in, &out, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  if (!status.ok()) {
    return Fail(res, absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                  status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  std::string answer;
  if (out.Dump(&slices).ok()) {
    for (const auto& s : slices) answer.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  std::unique_ptr<Message> response(google::protobuf::MessageFactory::generated_factory()
                                        ->GetPrototype(md->output_type())
                                        ->New());
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;  // An outcome or a count of 0 is shown, not left out.
  std::string json;
  if (!response->ParseFromString(answer) ||
      !google::protobuf::util::MessageToJsonString(*response, &json, print).ok()) {
    return Fail(res, absl::InternalError("the answer could not be mapped to JSON"));
  }
  res.status = 200;
  res.set_content(json, "application/json");
}

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(HttpGatewayOptions options,
                                                                grpc::Server& grpc_server) {
  const size_t colon = options.listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535 || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--http_listen ", Echo(options.listen),
                                                   ": must be host:port, e.g. 127.0.0.1:8080"));
  }
  std::string host = options.listen.substr(0, colon);
  if (!IsLoopback(host) && (!options.tls.server_tls() || options.tls.roles_file.empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_listen ", Echo(options.listen),
                     " is not loopback: it needs TLS (--tls_cert, --tls_key) and authentication "
                     "(--auth_roles, with --auth_tokens or --tls_client_auth); refusing to start"));
  }
  if (absl::StartsWith(host, "[")) host = host.substr(1, host.size() - 2);

  auto state = std::make_unique<State>(std::move(options));
  const TlsOptions& tls = state->options.tls;
  if (tls.server_tls()) {
    state->server = std::make_unique<httplib::SSLServer>(
        tls.cert_file.c_str(), tls.key_file.c_str(),
        tls.require_client_cert ? tls.ca_file.c_str() : nullptr);
  } else {
    state->server = std::make_unique<httplib::Server>();
  }
  if (!state->server->is_valid()) {
    return absl::InvalidArgumentError(
        "--http_listen: the TLS certificate, key or client CA could not be loaded");
  }
  if (!tls.roles_file.empty()) state->access = std::make_unique<AccessChecker>(tls);
  grpc::ChannelArguments args;
  state->stub = std::make_unique<grpc::GenericStub>(grpc_server.InProcessChannel(args));

  httplib::Server& server = *state->server;
  server.set_payload_max_length(state->options.max_body_bytes);
  // Every answer: JSON that no browser runs or frames, and nothing cached.
  server.set_default_headers(
      {{"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
       {"X-Content-Type-Options", "nosniff"},
       {"Cache-Control", "no-store"}});
  const State* raw = state.get();
  server.Post(
      R"(/([A-Za-z0-9_.]{1,100})/([A-Za-z0-9_]{1,100}))",
      [raw](const httplib::Request& req, httplib::Response& res) { raw->Handle(req, res); });
  // The console: its files; how this port authenticates (the page asks for a token only where
  // one is needed: a browser presents its client certificate by itself) and which services it
  // maps (the pages shown).
  const char* auth = tls.roles_file.empty()     ? "none"
                     : !tls.tokens_file.empty() ? "token"
                                                : "certificate";
  const std::string config =
      absl::StrCat(R"({"auth":")", auth, R"(","services":[")",
                   absl::StrJoin(state->options.services, R"(",")"), R"("]})");
  server.Get("/console/config.json", [config](const httplib::Request&, httplib::Response& res) {
    res.set_content(config, "application/json");
  });
  server.Get(R"(/console/([A-Za-z0-9_-]{1,64}\.[a-z]{1,5}))",
             [](const httplib::Request& req, httplib::Response& res) {
               ServeAsset(req.matches[1].str(), res);
             });
  for (const char* to_console : {"/", "/console", "/console/"}) {
    server.Get(to_console, [](const httplib::Request& req, httplib::Response& res) {
      if (req.path == "/console/") return ServeAsset("index.html", res);
      res.set_redirect("/console/");
    });
  }
  server.Get(R"(/([A-Za-z0-9_.]{1,100})/([A-Za-z0-9_]{1,100}))", [](const httplib::Request&,
                                                                    httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "POST");
    res.set_content(
        ErrorBody(absl::InvalidArgumentError("methods are called with POST and a JSON body")),
        "application/json");
  });
  // The errors the library answers by itself (an unknown path, a body or URI too long, a
  // request that does not parse) get the same JSON body.
  const std::string too_large =
      absl::StrCat("the body is larger than the limit of ", state->options.max_body_bytes,
                   " bytes (--max_message_bytes)");
  server.set_error_handler([too_large](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const absl::StatusCode code = res.status == 404   ? absl::StatusCode::kNotFound
                                  : res.status == 413 ? absl::StatusCode::kResourceExhausted
                                                      : absl::StatusCode::kInvalidArgument;
    const char* what = res.status == 404   ? "no such path"
                       : res.status == 413 ? too_large.c_str()
                       : res.status == 414 ? "the URI is too long"
                                           : "the request could not be read";
    res.set_content(ErrorBody(absl::Status(code, absl::StrCat("HTTP ", res.status, ": ", what))),
                    "application/json");
  });
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", Echo(state->options.listen), " for HTTP"));
  }
  state->listener = std::thread([&server] { server.listen_after_bind(); });
  return std::unique_ptr<HttpGateway>(new HttpGateway(std::move(state), bound));
}

HttpGateway::HttpGateway(std::unique_ptr<State> state, int port)
    : state_(std::move(state)), port_(port) {}

HttpGateway::~HttpGateway() { Stop(); }

void HttpGateway::Stop() {
  if (state_ == nullptr || !state_->listener.joinable()) return;
  state_->server->stop();
  state_->listener.join();
}

}  // namespace settle::http
