// settle-conformance: checks a participant, written in any language on any store, against the
// result contract of participant.proto. Prints one row per case; exits 1 if any case fails.

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/conformance.h"
#include "common/credentials.h"
#include "common/env_flags.h"
#include "grpcpp/create_channel.h"
#include "settle/v1/reference.grpc.pb.h"

ABSL_FLAG(std::string, participant, "", "host:port of the participant to check (required)");
ABSL_FLAG(std::string, name, "",
          "the name it is registered under, sent in Prepare, Act and Compensate");
ABSL_FLAG(std::string, payload_hex, "",
          "the test hook: a payload (hex) the participant votes YES for every time");
ABSL_FLAG(std::string, balance_account, "",
          "for Settle's balance participant: credit 1 to this account (opened beforehand) as the "
          "payload, and check the account moved by exactly the effects the contract allows");
ABSL_FLAG(int32_t, storm, 16, "concurrent duplicates in the storm cases (1 to 64)");

namespace {

constexpr char kUsage[] =
    "settle-conformance --participant HOST:PORT (--payload_hex HEX | --balance_account NAME) "
    "[--name NAME] [--tls_ca ... ]: checks a participant against participant.proto's result "
    "contract. Exit 0: every case passed; 1: a case failed; 2: bad flags or no participant.";

int Usage(const std::string& why) {
  std::fprintf(stderr, "%s\n\n%s\n", why.c_str(), kUsage);
  return 2;
}

absl::StatusOr<int64_t> Available(settle::v1::BalanceAdmin::Stub& admin,
                                  const std::string& account) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  settle::v1::GetAccountRequest req;
  req.set_account(account);
  settle::v1::Account resp;
  grpc::Status s = admin.GetAccount(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return resp.available_minor();
}

}  // namespace

int main(int argc, char** argv) {
  settle::ParseFlagsWithEnv(argc, argv, kUsage);
  const std::string target = absl::GetFlag(FLAGS_participant);
  if (target.empty()) return Usage("--participant is required");
  auto tls = settle::TlsOptionsFromFlags();
  if (!tls.ok()) return Usage(std::string(tls.status().message()));
  settle::conformance::KitOptions options;
  options.participant_name = absl::GetFlag(FLAGS_name);
  options.storm = absl::GetFlag(FLAGS_storm);
  if (options.storm < 1 || options.storm > 64) return Usage("--storm must be 1 to 64");
  const std::string account = absl::GetFlag(FLAGS_balance_account);
  if (!account.empty()) {
    settle::v1::BalancePayload credit;
    auto* posting = credit.add_postings();
    posting->set_account(account);
    posting->set_amount_minor(1);
    options.payload = credit.SerializeAsString();
  } else if (!absl::GetFlag(FLAGS_payload_hex).empty()) {
    const std::string hex = absl::GetFlag(FLAGS_payload_hex);
    if (hex.size() % 2 != 0 ||
        hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return Usage("--payload_hex is not an even number of hexadecimal digits");
    }
    options.payload = absl::HexStringToBytes(hex);
  } else {
    return Usage("give the test hook: --payload_hex or --balance_account");
  }

  auto channel = grpc::CreateChannel(target, settle::ChannelCredentials(*tls));
  auto admin = settle::v1::BalanceAdmin::NewStub(channel);
  int64_t before = 0;
  if (!account.empty()) {
    auto a = Available(*admin, account);
    if (!a.ok()) {
      return Usage(absl::StrCat("cannot read account ", account, ": ", a.status().ToString()));
    }
    before = *a;
  }
  auto stub = settle::v1::Participant::NewStub(channel);
  settle::conformance::KitReport report = settle::conformance::RunKit(*stub, options);
  if (!account.empty()) {
    settle::conformance::CaseResult effects;
    effects.name = "effects: the account moved by exactly what the contract allows";
    auto after = Available(*admin, account);
    if (!after.ok()) {
      effects.verdict = settle::conformance::CaseResult::Verdict::kFail;
      effects.detail = after.status().ToString();
    } else if (*after - before != report.expected_effects) {
      effects.verdict = settle::conformance::CaseResult::Verdict::kFail;
      effects.detail =
          absl::StrCat("moved by ", *after - before, ", want ", report.expected_effects);
    }
    report.cases.push_back(std::move(effects));
  }
  std::printf("settle-conformance against %s\n%s", target.c_str(),
              settle::conformance::FormatReport(report).c_str());
  return report.passed() ? 0 : 1;
}
