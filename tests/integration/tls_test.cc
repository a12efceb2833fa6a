// TLS on every link, with certificates made at test time by a throwaway CA: a payment crosses
// the whole stack over mutual TLS; plaintext, a missing, foreign or expired client certificate
// and a wrong host name are refused; a renewed certificate is served without a restart.

#include <filesystem>

#include "common/credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "launch/local_stack.h"
#include "launch/test_pki.h"

namespace settle {
namespace {

using launch::CertFiles;
using launch::TestPki;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = TestPki::Create(dir_.path(), "ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = std::make_unique<TestPki>(*std::move(ca));
    auto other = TestPki::Create(dir_.path(), "other-ca");
    ASSERT_TRUE(other.ok()) << other.status();
    other_ca_ = std::make_unique<TestPki>(*std::move(other));
    auto server = ca_->Issue("server", "IP:127.0.0.1");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
  }

  // A client's options: trusting `ca`, presenting `cert` if given.
  static TlsOptions Client(const TestPki& ca, const CertFiles& cert = {}) {
    TlsOptions o;
    o.ca_file = ca.ca_file();
    o.cert_file = cert.cert;
    o.key_file = cert.key;
    return o;
  }

  // The --tls_* flags of a process serving `cert`, trusting this test's CA.
  std::vector<std::string> ServerFlags(const CertFiles& cert, bool client_auth) const {
    std::vector<std::string> flags = {"--tls_cert=" + cert.cert, "--tls_key=" + cert.key,
                                      "--tls_ca=" + ca_->ca_file(), "--tls_reload_interval=1s"};
    if (client_auth) flags.push_back("--tls_client_auth");
    return flags;
  }

  // A health check on a fresh channel: the handshake's verdict, not a cached connection's.
  // `expected_name`: the name the server's certificate must carry, when not the target's host.
  static grpc::Status Check(const std::string& target, const TlsOptions& tls,
                            const std::string& expected_name = "") {
    grpc::ChannelArguments args;
    if (!expected_name.empty()) args.SetSslTargetNameOverride(expected_name);
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateCustomChannel(target, ChannelCredentials(tls), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse resp;
    return stub->Check(&ctx, {}, &resp);
  }

  launch::TempDir dir_;
  std::unique_ptr<TestPki> ca_;
  std::unique_ptr<TestPki> other_ca_;
  CertFiles server_;
};

TEST_F(TlsTest, APaymentCrossesTheStackOverMutualTls) {
  auto client = ca_->Issue("client", "DNS:payment-api");
  ASSERT_TRUE(client.ok()) << client.status();
  launch::LocalStack stack;
  // Every process serves mutual TLS and calls the others with the same certificate.
  stack.EnableTls(Client(*ca_, *client), ServerFlags(server_, /*client_auth=*/true));
  ASSERT_TRUE(stack.StartAll().ok());
  ASSERT_TRUE(stack.OpenAccount("alice", 1000).ok());
  ASSERT_TRUE(stack.OpenAccount("bob", 0).ok());
  auto r = stack.client().Execute(client::MakeTransfer("tls-1", "alice", "bob", 250));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::OUTCOME_COMMITTED) << r->reason();
  // COMMITTED is answered once the decision is durable; the Commit reaches balance after.
  EXPECT_TRUE(launch::WaitFor([&] {
    auto bob = stack.Account("bob");
    return bob.ok() && bob->available_minor() == 250;
  })) << "the commit did not reach balance over TLS";
  // The participants' own link to the coordinator (GetDecision) is TLS too: plaintext is refused
  // everywhere.
  for (const std::string& target :
       {stack.coordinator_endpoint(), stack.participant_endpoint("balance")}) {
    EXPECT_EQ(Check(target, TlsOptions{}).error_code(), grpc::StatusCode::UNAVAILABLE) << target;
  }
}

TEST_F(TlsTest, WrongOrMissingCredentialsAreRefused) {
  auto good = ca_->Issue("good-client", "DNS:payment-api");
  auto foreign = other_ca_->Issue("foreign-client", "DNS:payment-api");
  auto expired = ca_->Issue("expired-client", "DNS:payment-api", /*days=*/-1);
  ASSERT_TRUE(good.ok() && foreign.ok() && expired.ok());
  launch::LocalStack stack;
  stack.EnableTls(Client(*ca_, *good), ServerFlags(server_, /*client_auth=*/true));
  ASSERT_TRUE(stack.StartCoordinator().ok());
  const std::string at = stack.coordinator_endpoint();
  ASSERT_TRUE(Check(at, Client(*ca_, *good)).ok()) << "the good client must get through first";

  const std::vector<std::pair<std::string, TlsOptions>> refused = {
      {"plaintext", TlsOptions{}},
      {"no client certificate", Client(*ca_)},
      {"a client certificate of another CA", Client(*ca_, *foreign)},
      {"an expired client certificate", Client(*ca_, *expired)},
      {"a server the client's CA did not sign", Client(*other_ca_, *good)},
  };
  for (const auto& [what, tls] : refused) {
    EXPECT_EQ(Check(at, tls).error_code(), grpc::StatusCode::UNAVAILABLE) << what;
  }
  // The certificate names 127.0.0.1 only: a client that expects another server is refused.
  EXPECT_EQ(Check(at, Client(*ca_, *good), "ledger.internal").error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a wrong host name";
}

TEST_F(TlsTest, ARenewedCertificateIsServedWithoutARestart) {
  // The files the coordinator reads; renewal replaces their contents.
  const CertFiles live{dir_.Sub("live.pem"), dir_.Sub("live.key")};
  std::filesystem::copy_file(server_.cert, live.cert);
  std::filesystem::copy_file(server_.key, live.key);
  launch::LocalStack stack;
  stack.EnableTls(Client(*ca_), ServerFlags(live, /*client_auth=*/false));
  ASSERT_TRUE(stack.StartCoordinator().ok());
  const std::string at = stack.coordinator_endpoint();
  ASSERT_TRUE(Check(at, Client(*ca_)).ok());
  ASSERT_FALSE(Check(at, Client(*other_ca_)).ok());

  auto renewed = other_ca_->Issue("renewed", "IP:127.0.0.1");
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  // The key first: a reload between the two writes sees a mismatched pair and keeps the old one.
  std::filesystem::copy_file(renewed->key, live.key,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(renewed->cert, live.cert,
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_TRUE(launch::WaitFor([&] { return Check(at, Client(*other_ca_)).ok(); },
                               absl::Seconds(15)))
      << "the renewed certificate was not served";
  EXPECT_FALSE(Check(at, Client(*ca_)).ok()) << "the old certificate is still served";
}

}  // namespace
}  // namespace settle
