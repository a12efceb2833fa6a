// Thousands of random and malformed messages to every method of the coordinator and of a
// participant while the bank moves money: every answer is a status (no process dies, no call
// hangs to its deadline), every process is still SERVING afterwards, and the bank check passes.
// The messages: random bytes; each method's own request filled at random through reflection
// (extreme numbers, unknown enum values, empty, long, non-UTF-8 and control-byte strings,
// nested messages); and those encodings with flipped bytes or cut short.

#include <map>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "settle/v1/reference.pb.h"
#include "tests/fault/fault_test.h"
#include "tests/testing/raw_call.h"

namespace settle::fault {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

class HostileTrafficTest : public FaultTest {
 protected:
  void SetUp() override {
    StartBankStack(stack_, bank_);
  }

  std::string RandomString() {
    switch (rng_() % 6) {
      case 0: return "";
      case 1: return std::string(10'000 + rng_() % 20'000, 'x');  // Past gRPC's metadata limit.
      case 2: return "s0-0000000000000001";  // An id of the right shape.
      case 3: return "\xff\xfe\x01\n\"'\\";   // Not UTF-8, control bytes, quotes.
      default: {
        std::string s(rng_() % 40, ' ');
        for (char& c : s) c = static_cast<char>(rng_() % 256);
        return s;
      }
    }
  }

  int64_t RandomNumber() {
    static const int64_t kEdges[] = {0, -1, 1, INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX,
                                     (int64_t{1} << 52) + 1, 999'999'999, 1'000'000'000};
    return rng_() % 2 == 0 ? kEdges[rng_() % 10] : static_cast<int64_t>(rng_());
  }

  // Sets about half of `msg`'s fields at random, nested messages up to `depth` deep.
  void Fill(Message* msg, int depth) {
    const Descriptor* d = msg->GetDescriptor();
    const Reflection* r = msg->GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (rng_() % 2 == 0) continue;
      const int n = f->is_repeated() ? static_cast<int>(rng_() % 20) : 1;
      for (int k = 0; k < n; ++k) {
        const int64_t v = RandomNumber();
        switch (f->cpp_type()) {
          case FieldDescriptor::CPPTYPE_STRING:
            f->is_repeated() ? r->AddString(msg, f, RandomString())
                             : r->SetString(msg, f, RandomString());
            break;
          case FieldDescriptor::CPPTYPE_MESSAGE:
            if (depth > 0) {
              Fill(f->is_repeated() ? r->AddMessage(msg, f) : r->MutableMessage(msg, f),
                   depth - 1);
            }
            break;
          case FieldDescriptor::CPPTYPE_ENUM:
            f->is_repeated() ? r->AddEnumValue(msg, f, static_cast<int>(v))
                             : r->SetEnumValue(msg, f, static_cast<int>(v));
            break;
          case FieldDescriptor::CPPTYPE_BOOL:
            f->is_repeated() ? r->AddBool(msg, f, v & 1) : r->SetBool(msg, f, v & 1);
            break;
          case FieldDescriptor::CPPTYPE_INT32:
            f->is_repeated() ? r->AddInt32(msg, f, static_cast<int32_t>(v))
                             : r->SetInt32(msg, f, static_cast<int32_t>(v));
            break;
          case FieldDescriptor::CPPTYPE_UINT32:
            f->is_repeated() ? r->AddUInt32(msg, f, static_cast<uint32_t>(v))
                             : r->SetUInt32(msg, f, static_cast<uint32_t>(v));
            break;
          case FieldDescriptor::CPPTYPE_INT64:
            f->is_repeated() ? r->AddInt64(msg, f, v) : r->SetInt64(msg, f, v);
            break;
          case FieldDescriptor::CPPTYPE_UINT64:
            f->is_repeated() ? r->AddUInt64(msg, f, static_cast<uint64_t>(v))
                             : r->SetUInt64(msg, f, static_cast<uint64_t>(v));
            break;
          default:  // double, float: none in these contracts.
            break;
        }
      }
    }
  }

  // One hostile request body for a method taking `input`.
  std::string Body(const Descriptor* input) {
    const int kind = static_cast<int>(rng_() % 4);
    if (kind == 0) return RandomString();
    std::unique_ptr<Message> msg(factory_.GetPrototype(input)->New());
    Fill(msg.get(), 2);
    std::string bytes = msg->SerializePartialAsString();
    if (kind == 2 && !bytes.empty()) {
      for (int i = 0; i < 3; ++i) bytes[rng_() % bytes.size()] ^= static_cast<char>(1 + rng_() % 255);
    }
    if (kind == 3 && !bytes.empty()) bytes.resize(rng_() % bytes.size());
    return bytes;
  }

  static bool Serving(const std::string& endpoint) {
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse resp;
    return stub->Check(&ctx, {}, &resp).ok() &&
           resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

  launch::LocalStack stack_;
  Bank bank_{stack_, MixedModes()};
  google::protobuf::DynamicMessageFactory factory_;
};

TEST_F(HostileTrafficTest, RandomAndMalformedMessagesToEveryMethod) {
  bank_.Start();
  const auto services = stack_.ServicesOfCoordinatorAndBalance();
  v1::Account linked;  // Links reference.proto's descriptors into this binary.
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  struct Target {
    std::string path;
    const Descriptor* input;
    std::shared_ptr<grpc::GenericStub> stub;
  };
  std::vector<Target> targets;
  for (const auto& [name, endpoint] : services) {
    const auto* service = pool->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    auto stub = std::make_shared<grpc::GenericStub>(
        grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
    for (int m = 0; m < service->method_count(); ++m) {
      targets.push_back({"/" + name + "/" + service->method(m)->name(),
                         service->method(m)->input_type(), stub});
    }
  }
  // Our own encoder complains of the invalid UTF-8 we send on purpose.
  google::protobuf::LogSilencer quiet;
  constexpr int kMessages = 3000;
  std::map<grpc::StatusCode, int> codes;
  for (int i = 0; i < kMessages; ++i) {
    const Target& t = targets[i % targets.size()];
    const grpc::Status s = testing::RawCall(*t.stub, t.path, Body(t.input), absl::Seconds(20));
    ++codes[s.error_code()];
    // A hang shows as the call's own deadline; a dead process as UNAVAILABLE from the channel.
    ASSERT_NE(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << t.path << " (seed " << seed_ << ")";
    ASSERT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << t.path << ": " << s.error_message() << " (seed " << seed_ << ")";
  }
  std::string tally;
  for (const auto& [code, n] : codes) tally += absl::StrCat(" ", code, ":", n);
  std::printf("%d messages to %zu methods; codes%s\n", kMessages, targets.size(), tally.c_str());
  EXPECT_GT(codes[grpc::StatusCode::INVALID_ARGUMENT], kMessages / 10);  // Most are refused.
  EXPECT_TRUE(Serving(stack_.coordinator_endpoint()));
  for (const char* kind : {"balance", "ledger", "notification", "gateway"}) {
    EXPECT_TRUE(Serving(stack_.participant_endpoint(kind))) << kind;
  }
  HealAndCheck(bank_, absl::Seconds(90));
}

}  // namespace
}  // namespace settle::fault
