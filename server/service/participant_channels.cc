#include "server/service/participant_channels.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/echo.h"
#include "server/service/message_participant_channel.h"

namespace settle {
namespace {

// One participant's request queue on the coordinator's broker link.
class AmqpQueueLink final : public MessageCallLink {
 public:
  AmqpQueueLink(std::shared_ptr<AmqpCallLink> link, std::string queue)
      : link_(std::move(link)), queue_(std::move(queue)) {}
  void Call(const char* method, std::string request, absl::Time deadline, Done done) override {
    link_->Call(queue_, method, std::move(request), deadline, std::move(done));
  }

 private:
  const std::shared_ptr<AmqpCallLink> link_;
  const std::string queue_;
};

}  // namespace

absl::Status ParticipantChannels::ValidateEndpoint(const std::string& endpoint) {
  if (absl::StartsWith(endpoint, kAmqpEndpointPrefix)) {
    // A participant reached through RabbitMQ: its request queue's name.
    const absl::string_view queue =
        absl::string_view(endpoint).substr(sizeof(kAmqpEndpointPrefix) - 1);
    if (queue.empty() || queue.size() > 200 || absl::StartsWith(queue, "amq.") ||
        !std::all_of(queue.begin(), queue.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                 c == '_' || c == ':';
        })) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint ", Echo(endpoint),
          " is not amqp:<queue> (1 to 200 letters, digits, '.', '-', '_' or ':', not starting "
          "with the broker's reserved amq.), e.g. amqp:settle.participant.ledger"));
    }
    return absl::OkStatus();
  }
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint ", Echo(endpoint), " is not host:port (", why,
                     "), e.g. 10.0.0.7:7101, balance.payments.svc:7101 or [::1]:7101"));
  };
  if (endpoint.empty() || endpoint.size() > 256) return bad("it must be 1 to 256 bytes");
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  const absl::string_view host = absl::string_view(endpoint).substr(0, colon);
  const absl::string_view port = absl::string_view(endpoint).substr(colon + 1);
  if (host.empty()) return bad("no host");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("an IPv6 host is written [addr]");
    for (char c : host.substr(1, host.size() - 2)) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return bad("an IPv6 address holds hex digits, ':' and '.'");
      }
    }
  } else {
    for (char c : host) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return bad("a host name holds letters, digits, '.', '-' and '_' (no scheme or path)");
      }
    }
  }
  int port_number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return bad("the port must be a number from 1 to 65535");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<engine::ParticipantChannel>> ParticipantChannels::Create(
    const std::string& endpoint) {
  if (absl::Status s = ValidateEndpoint(endpoint); !s.ok()) return s;
  if (!absl::StartsWith(endpoint, kAmqpEndpointPrefix)) return grpc_.Create(endpoint);
  if (amqp_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "endpoint ", endpoint.substr(0, 64),
        " is reached through RabbitMQ, and this coordinator has no broker (--amqp_host)"));
  }
  return std::make_shared<MessageParticipantChannel>(
      std::make_shared<AmqpQueueLink>(amqp_, endpoint.substr(sizeof(kAmqpEndpointPrefix) - 1)),
      /*callable_by_peers=*/false);  // Only the broker reaches it.
}

}  // namespace settle
