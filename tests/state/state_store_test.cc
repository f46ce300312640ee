#include "state/state_store.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace cairn::state {
namespace {

v1::CustomerState Customer(const std::string& id, uint64_t events) {
  v1::CustomerState s;
  s.set_id(id);
  s.set_events_total(events);
  return s;
}

TEST(StateStoreTest, BatchIsVisibleOnlyAfterWriteAndSurvivesReopen) {
  testing::TempDir dir;
  {
    auto store = StateStore::Open({.dir = dir.path()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto batch = (*store)->NewBatch();
    batch.PutCustomer(3, Customer("alice", 7));
    v1::PartitionCheckpoint cp;
    cp.set_next_offset(42);
    cp.set_events(7);
    batch.PutCheckpoint("cairn.events", 3, cp);
    auto before = (*store)->GetCustomer(3, "alice");
    ASSERT_TRUE(before.ok());
    EXPECT_FALSE(before->has_value());
    EXPECT_FALSE((*store)->GetCheckpoint("cairn.events", 3).has_value());
    ASSERT_TRUE((*store)->Write(batch).ok());
  }
  auto store = StateStore::Open({.dir = dir.path()});
  ASSERT_TRUE(store.ok());
  auto alice = (*store)->GetCustomer(3, "alice");
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(alice->has_value());
  EXPECT_EQ((*alice)->events_total(), 7u);
  // Scoped by partition: the same id on another partition is someone else.
  EXPECT_FALSE((*store)->GetCustomer(4, "alice")->has_value());
  auto cp = (*store)->GetCheckpoint("cairn.events", 3);
  ASSERT_TRUE(cp.has_value());
  EXPECT_EQ(cp->next_offset(), 42);
  EXPECT_FALSE((*store)->GetCheckpoint("cairn.events.dlq", 3).has_value());
}

TEST(StateStoreTest, CheckpointsListsPartitionsOfOneTopic) {
  testing::TempDir dir;
  auto store = StateStore::Open({.dir = dir.path()});
  ASSERT_TRUE(store.ok());
  auto batch = (*store)->NewBatch();
  v1::PartitionCheckpoint cp;
  for (int p : {0, 5, 300}) {
    cp.set_next_offset(p * 10);
    batch.PutCheckpoint("t", p, cp);
  }
  batch.PutCheckpoint("t.other", 1, cp);
  ASSERT_TRUE((*store)->Write(batch).ok());
  auto all = (*store)->Checkpoints("t");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].first, 0);
  EXPECT_EQ(all[1].first, 5);
  EXPECT_EQ(all[2].first, 300);
  EXPECT_EQ(all[2].second.next_offset(), 3000);
}

TEST(StateStoreTest, HistoryIsNewestFirstAndPerCustomer) {
  testing::TempDir dir;
  auto store = StateStore::Open({.dir = dir.path()});
  ASSERT_TRUE(store.ok());
  auto batch = (*store)->NewBatch();
  v1::HistoryEntry e;
  for (uint64_t seq = 0; seq < 300; ++seq) {  // wraps the ring of 50 six times
    e.set_name("E" + std::to_string(seq));
    e.set_seq(seq);
    batch.PutHistory(1, "bob", e, 50);
  }
  e.set_name("other");
  e.set_seq(0);
  batch.PutHistory(1, "bo", e, 50);     // a prefix of bob's id
  batch.PutHistory(1, "bobby", e, 50);  // bob is a prefix of this id
  ASSERT_TRUE((*store)->Write(batch).ok());
  auto h = (*store)->History(1, "bob", 3);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 3u);
  EXPECT_EQ((*h)[0].name(), "E299");
  EXPECT_EQ((*h)[2].name(), "E297");
  auto all = (*store)->History(1, "bob", 1000);
  ASSERT_EQ(all->size(), 50u);  // the ring keeps the newest 50
  EXPECT_EQ(all->back().name(), "E250");
  EXPECT_EQ((*store)->History(1, "bo", 10)->size(), 1u);
  EXPECT_TRUE((*store)->History(2, "bob", 10)->empty());
}

TEST(StateStoreTest, MultiGetAndScan) {
  testing::TempDir dir;
  auto store = StateStore::Open({.dir = dir.path()});
  ASSERT_TRUE(store.ok());
  auto batch = (*store)->NewBatch();
  for (int i = 0; i < 100; ++i) batch.PutCustomer(i % 4, Customer("c" + std::to_string(i), i));
  ASSERT_TRUE((*store)->Write(batch).ok());
  std::vector<std::optional<v1::CustomerState>> out;
  ASSERT_TRUE((*store)->MultiGetCustomers({{1, "c5"}, {2, "c5"}, {3, "c99"}}, out).ok());
  ASSERT_EQ(out.size(), 3u);
  ASSERT_TRUE(out[0].has_value());
  EXPECT_EQ(out[0]->events_total(), 5u);
  EXPECT_FALSE(out[1].has_value());
  ASSERT_TRUE(out[2].has_value());
  EXPECT_EQ(out[2]->id(), "c99");
  uint64_t sum = 0;
  int n = 0;
  ASSERT_TRUE((*store)
                  ->ScanCustomers([&](int32_t, const v1::CustomerState& s) {
                    sum += s.events_total();
                    return ++n < 1000;
                  })
                  .ok());
  EXPECT_EQ(n, 100);
  EXPECT_EQ(sum, 4950u);
}

TEST(StateStoreTest, OpenFailsClearlyOnUnusableDir) {
  auto store = StateStore::Open({.dir = "/proc/cairn-cannot-create-this"});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/proc/cairn-cannot-create-this"), std::string::npos);
}

}  // namespace
}  // namespace cairn::state
