// The PostgreSQL store against a real PostgreSQL server the test starts: its schema, its errors,
// and the barrier's rule that one branch's row is inserted once, whatever runs at the same time.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "launch/postgres_server.h"
#include "launch/wait.h"
#include "storage/postgres/pg_branch_store.h"
#include "storage/postgres/pg_schema.h"
#include "storage/records.pb.h"

namespace settle {
namespace {

using storage::Space;
using storage::WorkView;

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SETTLE_START_POSTGRES_OR_SKIP(server_);
    ASSERT_TRUE(server_->CreateDatabase("pay").ok());
  }

  absl::StatusOr<std::unique_ptr<storage::BranchStore>> Open(int pool = 4) {
    storage::PgStoreOptions options;
    options.dsn = server_->Dsn("pay");
    options.pool_size = pool;
    return storage::OpenPgBranchStore(options);
  }

  // One statement in a unit of its own; its rows.
  static absl::StatusOr<storage::SqlResult> Sql(storage::BranchStore& store,
                                                const std::string& statement) {
    storage::SqlResult out;
    absl::Status inner;
    absl::Status s = store.SubmitAndWait([&](WorkView& view) {
      auto r = view.sql()->Exec(statement, {});
      if (r.ok()) out = *r;
      inner = r.status();
      return r.ok();
    });
    if (s.ok()) s = inner;
    if (!s.ok()) return s;
    return out;
  }

  static int64_t Number(storage::BranchStore& store, const std::string& query) {
    auto r = Sql(store, query);
    int64_t n = -1;
    if (!r.ok() || r->rows.empty() || !absl::SimpleAtoi(r->rows[0][0].value_or(""), &n)) return -1;
    return n;
  }

  static std::string Record(storage::BarrierStateRecord state) {
    storage::BarrierRecord rec;
    rec.set_state(state);
    rec.set_payload("pay 5");
    rec.set_update_micros(1);
    return rec.SerializeAsString();
  }

  std::unique_ptr<launch::PostgresServer> server_;
};

TEST_F(PgStoreTest, CreatesItsTablesAndOpensThemAgain) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(Number(**store, "SELECT version FROM settle_schema"), 1);
  }
  auto again = Open();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Number(**again, "SELECT count(*) FROM settle_schema"), 1);
}

TEST_F(PgStoreTest, RefusesTablesOfANewerSchema) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(Sql(**store, "UPDATE settle_schema SET version = 2").ok());
  }
  EXPECT_EQ(Open().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PgStoreTest, RefusesAForeignBarrierTableAndCreatesNothing) {
  ASSERT_TRUE(server_->CreateDatabase("foreign_db").ok());
  storage::PgStoreOptions options;
  options.dsn = server_->Dsn("foreign_db");
  // A table of that name that is not Settle's, with no settle_schema beside it.
  ASSERT_TRUE(server_->Query("foreign_db", "CREATE TABLE settle_barrier (id integer)").ok());
  options.dsn = server_->Dsn("foreign_db");
  EXPECT_EQ(storage::OpenPgBranchStore(options).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*server_->Query("foreign_db", "SELECT to_regclass('settle_schema') IS NULL"), "t")
      << "the refused start created settle_schema";
}

TEST_F(PgStoreTest, ConfigurationErrorsNameWhatIsWrong) {
  storage::PgStoreOptions options;
  for (const char* dsn :
       {"host='127.0.0.1", "postgresql://nobody@127.0.0.1:5432/x?sslmode=sometimes"}) {
    options.dsn = dsn;
    EXPECT_EQ(storage::OpenPgBranchStore(options).status().code(),
              absl::StatusCode::kInvalidArgument)
        << dsn;
  }
  options.dsn = server_->DsnWithPassword("pay", "wrong");
  EXPECT_EQ(storage::OpenPgBranchStore(options).status().code(),
            absl::StatusCode::kPermissionDenied);
  options.dsn = server_->Dsn("pay");
  options.pool_size = 0;
  EXPECT_EQ(storage::OpenPgBranchStore(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(server_->Stop(/*immediate=*/false).ok());
  options.pool_size = 2;
  EXPECT_EQ(storage::OpenPgBranchStore(options).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(PgStoreTest, ConcurrentUnitsForOneBranchTakeEffectOnce) {
  auto store = Open(/*pool=*/8);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(Sql(**store, "CREATE TABLE effects (n integer NOT NULL)").ok());
  // Each unit does what PrepareWork does: reads the barrier row, and only when it is absent
  // makes the business change and writes the row. 32 at once, 8 connections.
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&] {
      absl::Status s = (*store)->SubmitAndWait([&](WorkView& view) {
        auto barrier = view.Get(Space::kBarrier, "s0-0000000000000001/00000");
        if (!barrier.ok() || barrier->has_value()) return false;
        if (!view.sql()->Exec("INSERT INTO effects VALUES (1)", {}).ok()) return false;
        view.Put(Space::kBarrier, "s0-0000000000000001/00000", Record(storage::BARRIER_PREPARED));
        return true;
      });
      if (s.ok()) ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 32);
  EXPECT_EQ(Number(**store, "SELECT count(*) FROM effects"), 1);
  EXPECT_EQ(Number(**store, "SELECT count(*) FROM settle_barrier"), 1);
}

TEST_F(PgStoreTest, AUnitThatKeepsNothingLeavesNothing) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(Sql(**store, "CREATE TABLE effects (n integer NOT NULL)").ok());
  ASSERT_TRUE((*store)
                  ->SubmitAndWait([](WorkView& view) {
                    view.sql()->Exec("INSERT INTO effects VALUES (1)", {}).IgnoreError();
                    view.Put(Space::kBarrier, "s0-0000000000000002/00001",
                             Record(storage::BARRIER_PREPARED));
                    return false;
                  })
                  .ok());
  EXPECT_EQ(Number(**store, "SELECT count(*) FROM effects"), 0);
  EXPECT_EQ(Number(**store, "SELECT count(*) FROM settle_barrier"), 0);
}

TEST_F(PgStoreTest, BarrierRowsReadBackAndScanInKeyOrder) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  const std::vector<std::string> keys = {"s0-0000000000000003/00002", "s0-0000000000000003/00010",
                                         "s1-0000000000000001/00000"};
  ASSERT_TRUE((*store)
                  ->SubmitAndWait([&](WorkView& view) {
                    for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
                      view.Put(Space::kBarrier, *it, Record(storage::BARRIER_COMMITTED));
                    }
                    view.Put(Space::kMeta, "p/x", "1");
                    return true;
                  })
                  .ok());
  auto got = (*store)->Get(Space::kBarrier, keys[1]);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, Record(storage::BARRIER_COMMITTED));
  std::vector<std::string> scanned;
  ASSERT_TRUE((*store)
                  ->Scan(Space::kBarrier, "", keys[0] + "\x01",
                         [&](const std::string& key, const std::string&) {
                           scanned.push_back(key);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(scanned, std::vector<std::string>(keys.begin() + 1, keys.end()));
  auto meta = (*store)->Get(Space::kMeta, "p/x");
  ASSERT_TRUE(meta.ok() && meta->has_value());
  EXPECT_EQ(**meta, "1");
}

TEST_F(PgStoreTest, ListsFinishedBarriersPastTheCutoffOldestFirst) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status();
  auto put = [&](const std::string& key, storage::BarrierStateRecord state, int64_t update) {
    storage::BarrierRecord rec;
    rec.set_state(state);
    rec.set_update_micros(update);
    ASSERT_TRUE((*store)
                    ->SubmitAndWait([&](WorkView& view) {
                      view.Put(Space::kBarrier, key, rec.SerializeAsString());
                      return true;
                    })
                    .ok());
  };
  put("s0-0000000000000001/00000", storage::BARRIER_ABORTED, 200);
  put("s0-0000000000000002/00003", storage::BARRIER_COMMITTED, 100);
  put("s0-0000000000000003/00000", storage::BARRIER_PREPARED, 50);  // In doubt: never listed.
  put("s0-0000000000000004/00000", storage::BARRIER_COMMITTED, 5000);
  auto due = (*store)->FinishedBarriers(absl::FromUnixMicros(1000), 10);
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_EQ(*due,
            (std::vector<std::string>{"s0-0000000000000002/00003", "s0-0000000000000001/00000"}));
  EXPECT_EQ((*store)->FinishedBarriers(absl::FromUnixMicros(1000), 1)->size(), 1u);
}

TEST_F(PgStoreTest, ALostConnectionIsUnavailableAndTheNextUnitReconnects) {
  auto store = Open(/*pool=*/1);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(Sql(**store, "SELECT 1").ok());  // The worker's connection is open.
  ASSERT_TRUE(server_
                  ->Query("postgres",
                          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                          "'pay'")
                  .ok());
  auto lost = Sql(**store, "SELECT 1");
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Sql(**store, "SELECT 1").ok());
}

TEST(PgSchemaTest, TheReadmeShowsTheSchemaAsTheStoreCreatesIt) {
  std::string ddl = storage::pg::kSchemaDdl;
  while (!ddl.empty() && ddl.front() == '\n') ddl.erase(0, 1);
  const std::string readme = launch::ReadFile(std::string(SETTLE_SOURCE_DIR) + "/README.md");
  EXPECT_NE(readme.find(ddl), std::string::npos)
      << "README.md, \"Participants on PostgreSQL\", must show storage/postgres/pg_schema.h's DDL";
}

}  // namespace
}  // namespace settle
