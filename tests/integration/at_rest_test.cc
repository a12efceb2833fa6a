// Payloads encrypted at rest, end to end: payments whose payloads carry a marker leave it in no
// file of the coordinator's data dir, through a kill -9; the coordinator restarted with another
// key under the same id refuses to start (DATA_LOSS, exit 3); with its key it finishes the
// payment it was delivering and answers for the others.

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "launch/local_stack.h"

namespace settle {
namespace {

constexpr char kMarker[] = "PANMARKER4111111111111111";

void WriteKey(const std::string& path, char fill) {
  std::ofstream(path) << std::string(64, fill) << "\n";
}

TEST(AtRestTest, NoFileOfTheDataDirHoldsAPayloadAndAWrongKeyStopsStartUp) {
  launch::LocalStack stack;
  const std::string key = stack.dir() + "/keys/k1.key";
  std::filesystem::create_directories(stack.dir() + "/keys");
  WriteKey(key, 'a');
  ASSERT_TRUE(stack.StartCoordinator({"--at_rest_keys=" + key}).ok());
  for (const char* name : {"balance", "ledger", "notification"}) {
    ASSERT_TRUE(stack.StartParticipant(name).ok());
  }
  ASSERT_TRUE(stack.RegisterAll().ok());
  const std::string alice = std::string("alice-") + kMarker;
  const std::string bob = std::string("bob-") + kMarker;
  ASSERT_TRUE(stack.OpenAccount(alice, 10'000).ok());
  ASSERT_TRUE(stack.OpenAccount(bob, 0).ok());
  std::string first_txn;
  for (int i = 0; i < 20; ++i) {
    auto r = stack.client().Execute(client::MakeTransfer("at-rest-" + std::to_string(i), alice, bob, 10));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->outcome(), v1::OUTCOME_COMMITTED);
    if (i == 0) first_txn = r->txn_id();
  }
  // Every Commit delivered; then one payment stays active: its branch at the stopped ledger
  // aborts, and the Abort waits for it.
  ASSERT_TRUE(launch::WaitFor([&] {
    auto a = stack.ActiveTransactions();
    return a.ok() && a->empty();
  }));
  stack.participant("ledger").Signal(SIGKILL);
  stack.participant("ledger").Wait(absl::Seconds(30));
  auto stuck = stack.client().Execute(client::MakeTransfer("at-rest-stuck", alice, bob, 10));
  ASSERT_TRUE(stuck.ok()) << stuck.status();
  EXPECT_EQ(stuck->outcome(), v1::OUTCOME_ABORTED);
  auto active = stack.ActiveTransactions();
  ASSERT_TRUE(active.ok() && active->size() == 1u && active->front().txn_id() == stuck->txn_id());

  stack.coordinator().Signal(SIGKILL);
  stack.coordinator().Wait(absl::Seconds(30));
  const std::string data = stack.dir() + "/coordinator";
  EXPECT_EQ(launch::FilesHolding(data, kMarker), 0) << "a payload is in clear in " << data;
  // The check bites: the balance participant keeps the same accounts in clear.
  EXPECT_GT(launch::FilesHolding(stack.dir() + "/balance", kMarker), 0);

  // Another key under the same id: the active record's tag does not verify.
  const std::string wrong = stack.dir() + "/wrong/k1.key";
  std::filesystem::create_directories(stack.dir() + "/wrong");
  WriteKey(wrong, 'b');
  EXPECT_FALSE(stack.StartCoordinator({"--at_rest_keys=" + wrong}).ok());
  const std::optional<int> status = stack.coordinator().Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);  // DATA_LOSS: refuses to serve.
  std::ifstream log(stack.dir() + "/coordinator.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("tag does not verify"), std::string::npos) << text.str();

  // With its key (rotated: a new one first, the old one still given) it starts, finishes the
  // abort once the ledger is back, and reads the first payment.
  const std::string next = stack.dir() + "/keys/k2.key";
  WriteKey(next, 'c');
  ASSERT_TRUE(stack.StartCoordinator({"--at_rest_keys=" + next + "," + key}).ok());
  ASSERT_TRUE(stack.StartParticipant("ledger").ok());
  EXPECT_TRUE(launch::WaitFor([&] {
    auto a = stack.ActiveTransactions();
    return a.ok() && a->empty();
  }));
  auto first = stack.client().GetTransaction(first_txn);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->state(), v1::TXN_STATE_COMMITTED);
}

}  // namespace
}  // namespace settle
