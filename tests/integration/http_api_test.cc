// The coordinator's HTTP/JSON port (server/http/) on a real coordinator: every method of its
// services is mapped from the proto and answers what the same call over gRPC answers (status
// and message in the body, the code mapped to HTTP's); a payment runs through it; hostile
// requests get a precise status, nothing unbounded is logged, and the server stays up; and no
// port opens to the network without authentication.

#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/credentials.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "launch/process.h"
#include "tests/testing/http_client.h"
#include "tests/testing/raw_call.h"

namespace settle {
namespace {

using testing::HttpAnswer;
using testing::HttpRequest;
using testing::SendHttp;

// The body's {"code", "status", "message"}, or nullopt if it is not such a body.
struct ErrorBody {
  int code = -1;
  std::string status, message;
};
ErrorBody ParseError(const std::string& json) {
  google::protobuf::Struct body;
  ErrorBody out;
  if (!google::protobuf::util::JsonStringToMessage(json, &body).ok()) return out;
  const auto& f = body.fields();
  if (f.count("code")) out.code = static_cast<int>(f.at("code").number_value());
  if (f.count("status")) out.status = f.at("status").string_value();
  if (f.count("message")) out.message = f.at("message").string_value();
  return out;
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out).ok());
  return out;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        stack_.StartCoordinator({"--http_listen=127.0.0.1:0", "--max_message_bytes=65536"}).ok());
    for (const char* kind : {"balance", "ledger", "notification"}) {
      ASSERT_TRUE(stack_.StartParticipant(kind).ok());
    }
    ASSERT_TRUE(stack_.RegisterAll().ok());
    ASSERT_TRUE(stack_.OpenAccount("alice", 1000).ok());
    ASSERT_TRUE(stack_.OpenAccount("bob", 0).ok());
  }

  HttpAnswer Post(const std::string& path, const std::string& body) {
    HttpRequest r;
    r.path = path;
    r.body = body;
    return SendHttp(stack_.coordinator_http_endpoint(), r);
  }

  launch::LocalStack stack_;
};

TEST_F(HttpApiTest, APaymentRunsThroughTheHttpPort) {
  const std::string transfer = Json(client::MakeTransfer("http-1", "alice", "bob", 250));
  HttpAnswer a = Post("/settle.v1.Coordinator/Execute", transfer);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.headers["Content-Type"], "application/json");
  v1::ExecuteResponse first;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &first).ok()) << a.body;
  EXPECT_EQ(first.outcome(), v1::OUTCOME_COMMITTED) << a.body;
  // A retry is answered, not run again.
  a = Post("/settle.v1.Coordinator/Execute", transfer);
  v1::ExecuteResponse again;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &again).ok()) << a.body;
  EXPECT_TRUE(again.replayed());
  EXPECT_EQ(again.txn_id(), first.txn_id());

  a = Post("/settle.v1.Coordinator/GetTransaction",
           absl::StrCat(R"({"txnId": ")", first.txn_id(), R"("})"));
  ASSERT_EQ(a.status, 200) << a.body;
  v1::Transaction txn;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(a.body, &txn).ok()) << a.body;
  EXPECT_EQ(txn.idempotency_key(), "http-1");
  EXPECT_EQ(txn.branches_size(), 3);
  // Field names as in the .proto are accepted too (protobuf's JSON mapping).
  a = Post("/settle.v1.DecisionService/GetDecision",
           absl::StrCat(R"({"txn_id": ")", first.txn_id(), R"("})"));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "DECISION_COMMIT")) << a.body;
  a = Post("/settle.v1.Registry/ListParticipants", "{}");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "\"ledger\"")) << a.body;
  EXPECT_TRUE(launch::WaitFor([&] {
    auto bob = stack_.Account("bob");
    return bob.ok() && bob->available_minor() == 250;
  }));
}

// The console: its files from inside the binary, under a policy that lets them run their own
// scripts and call this port only; JSON answers keep the stricter one.
TEST_F(HttpApiTest, TheConsoleIsServedFromTheBinaryUnderAStrictPolicy) {
  auto get = [&](const std::string& path) {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    return SendHttp(stack_.coordinator_http_endpoint(), r);
  };
  HttpAnswer a = get("/");
  EXPECT_EQ(a.status, 302);
  EXPECT_EQ(a.headers["Location"], "/console/");
  a = get("/console/");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.headers["Content-Type"], "text/html; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(a.body, R"(<script type="module" src="/console/console.js">)"));
  const std::string policy = a.headers["Content-Security-Policy"];
  EXPECT_TRUE(absl::StrContains(policy, "script-src 'self'")) << policy;
  EXPECT_TRUE(absl::StrContains(policy, "frame-ancestors 'none'")) << policy;
  EXPECT_FALSE(absl::StrContains(policy, "unsafe")) << policy;
  EXPECT_EQ(a.headers["X-Content-Type-Options"], "nosniff");
  for (const char* file : {"console.js", "api.js", "dom.js", "transactions.js", "operations.js"}) {
    a = get(absl::StrCat("/console/", file));
    EXPECT_EQ(a.status, 200) << file;
    EXPECT_EQ(a.headers["Content-Type"], "text/javascript; charset=utf-8") << file;
    // No module writes markup from a string: values enter the page as text (dom.js).
    EXPECT_FALSE(absl::StrContains(a.body, "innerHTML")) << file;
    EXPECT_FALSE(absl::StrContains(a.body, "insertAdjacentHTML")) << file;
  }
  EXPECT_EQ(get("/console/config.json").body,
            R"({"auth":"none","services":["settle.v1.Coordinator","settle.v1.Registry",)"
            R"("settle.v1.DecisionService"]})");
  a = get("/console/nothing.js");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(ParseError(a.body).code, grpc::StatusCode::NOT_FOUND) << a.body;
  EXPECT_EQ(get("/console/../../etc/passwd").status, 404);
  a = Post("/settle.v1.Registry/ListParticipants", "{}");
  EXPECT_EQ(a.headers["Content-Security-Policy"], "default-src 'none'; frame-ancestors 'none'");
}

// Each method's empty request over HTTP and over gRPC: the same code and message.
TEST_F(HttpApiTest, EveryMethodIsMappedAndAnswersAsOverGrpc) {
  grpc::GenericStub grpc_stub(
      grpc::CreateChannel(stack_.coordinator_endpoint(), grpc::InsecureChannelCredentials()));
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  int methods = 0;
  for (const char* name :
       {"settle.v1.Coordinator", "settle.v1.Registry", "settle.v1.DecisionService"}) {
    const auto* service = pool->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int m = 0; m < service->method_count(); ++m) {
      const std::string path = absl::StrCat("/", name, "/", service->method(m)->name());
      const grpc::Status over_grpc = testing::RawCall(grpc_stub, path, "", absl::Seconds(10));
      const HttpAnswer a = Post(path, "{}");
      ++methods;
      if (over_grpc.ok()) {
        EXPECT_EQ(a.status, 200) << path << ": " << a.body;
        continue;
      }
      const ErrorBody e = ParseError(a.body);
      EXPECT_EQ(e.code, over_grpc.error_code()) << path << ": " << a.body;
      EXPECT_EQ(e.message, over_grpc.error_message()) << path;
      EXPECT_NE(a.status, 200) << path;
      EXPECT_NE(a.status, 404) << path << " is not mapped";
    }
  }
  EXPECT_GE(methods, 12);
}

TEST_F(HttpApiTest, HostileRequestsGetAPreciseStatusAndTheServerStaysUp) {
  struct Case {
    const char* name;
    HttpRequest request;
    int status;
    const char* says;  // In the error's message.
  };
  auto post = [](std::string path, std::string body) {
    HttpRequest r;
    r.path = std::move(path);
    r.body = std::move(body);
    return r;
  };
  const std::string execute = "/settle.v1.Coordinator/Execute";
  HttpRequest form = post(execute, "idempotency_key=x");
  form.content_type = "application/x-www-form-urlencoded";
  HttpRequest get = post(execute, "");
  get.method = "GET";
  HttpRequest other_site = post("/settle.v1.Registry/ListParticipants", "{}");
  other_site.headers.push_back({"Origin", "https://evil.example"});
  const std::string flood(20000, 'a');
  const Case cases[] = {
      {"bad JSON", post(execute, "{\"idempotencyKey\": "), 400, "JSON mapping"},
      {"unknown field", post(execute, R"({"idempotencyKey": "k", "amount": 5})"), 400, "amount"},
      {"wrong type", post(execute, R"({"idempotencyKey": 5})"), 400, "idempotency_key"},
      {"nested too deep", post(execute, std::string(60000, '[')), 400, "JSON mapping"},
      {"bad base64 payload",
       post(execute, R"({"idempotencyKey": "k", "branches": [{"participant": "balance",
                         "payload": "%%%"}]})"),
       400, "payload"},
      {"wrong content type", form, 415, "Content-Type"},
      {"oversized body",
       post(execute, absl::StrCat(R"({"idempotencyKey": ")", std::string(70000, 'k'), "\"}")), 413,
       "65536 bytes"},
      {"huge query string", post(execute + "?" + flood, "{}"), 414, "too long"},
      {"unknown method", post("/settle.v1.Coordinator/Explode", "{}"), 404, "no method"},
      {"unknown service", post("/settle.v1.Participant/Prepare", "{}"), 404, "no method"},
      {"no such path", post("/", "{}"), 404, "no such path"},
      {"GET", get, 405, "POST"},
      {"another site's page", other_site, 403, "evil.example"},
      {"a valid request with a bad field",
       post(execute, R"({"idempotencyKey": "k", "timeout": "5s"})"), 400, "branches"},
  };
  for (const Case& c : cases) {
    HttpAnswer a = SendHttp(stack_.coordinator_http_endpoint(), c.request);
    EXPECT_EQ(a.status, c.status) << c.name << ": " << a.body;
    const ErrorBody e = ParseError(a.body);
    EXPECT_TRUE(absl::StrContains(e.message, c.says)) << c.name << ": " << a.body;
    EXPECT_FALSE(e.status.empty()) << c.name << ": " << a.body;
    EXPECT_EQ(a.headers["X-Content-Type-Options"], "nosniff") << c.name;
    EXPECT_TRUE(absl::StrContains(a.headers["Content-Security-Policy"], "default-src 'none'"))
        << c.name;
  }

  // Still up, and nothing was run or logged without bound.
  const HttpAnswer ok = Post(execute, Json(client::MakeTransfer("http-after", "alice", "bob", 1)));
  EXPECT_EQ(ok.status, 200) << ok.body;
  auto listed = stack_.Transactions(v1::ListTransactionsRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
  std::ifstream in(stack_.dir() + "/coordinator.log");
  const std::string log(std::istreambuf_iterator<char>(in), {});
  EXPECT_LT(log.size(), 64u * 1024) << "the coordinator's log grew with the requests";
  EXPECT_FALSE(absl::StrContains(log, std::string(200, 'a')));
  EXPECT_FALSE(absl::StrContains(log, std::string(200, 'k')));
}

// The HTTP port passes the identity it checked to the gRPC server in two headers with a secret
// of the process; a gRPC caller that sends them (here, with no roles file, where no identity is
// checked at all) is not believed: the audit names no one.
TEST_F(HttpApiTest, NoGrpcCallerPassesForAnIdentityWithTheHttpPortsHeaders) {
  v1::AbortTransactionRequest forged;
  forged.set_txn_id("s0-forged");
  forged.set_reason("forged");
  grpc::GenericStub stub(
      grpc::CreateChannel(stack_.coordinator_endpoint(), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(
      testing::RawCall(stub, "/settle.v1.Coordinator/AbortTransaction", forged.SerializeAsString(),
                       absl::Seconds(10),
                       {{kForwardedIdentityHeader, "mallory"}, {kForwardedSecretHeader, "guessed"}})
          .error_code(),
      grpc::StatusCode::NOT_FOUND);
  auto audit = stack_.client().ListOperatorCommands({});
  ASSERT_TRUE(audit.ok()) << audit.status();
  int seen = 0;
  for (const auto& c : audit->commands()) {
    if (c.target() != "s0-forged") continue;
    ++seen;
    EXPECT_EQ(c.who(), "") << "a forged identity was believed";
  }
  EXPECT_EQ(seen, 1);
}

// Anything but loopback without TLS and a roles file: the coordinator does not start.
TEST(HttpPortTest, NoPortOpensToTheNetworkWithoutAuthentication) {
  launch::TempDir dir;
  const launch::Ran ran =
      launch::RunToExit(launch::BinaryPath("settle-coordinator"),
                        {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                         "--data_dir=" + dir.Sub("data"), "--http_listen=0.0.0.0:0"},
                        dir.Sub("coordinator.log"));
  ASSERT_NE(ran.exit_code, -1) << "it started: " << ran.output;
  EXPECT_NE(ran.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(ran.output, "is not loopback")) << ran.output;
}

}  // namespace
}  // namespace settle
