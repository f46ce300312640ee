#include "state/customer_cache.h"

#include <gtest/gtest.h>

namespace cairn::state {
namespace {

v1::CustomerState Named(const std::string& id) {
  v1::CustomerState s;
  s.set_id(id);
  return s;
}

TEST(CustomerCacheTest, EvictsLeastRecentlyUsedCleanEntries) {
  CustomerCache cache(2);
  cache.Insert(0, "a", Named("a"));
  cache.Insert(0, "b", Named("b"));
  cache.Insert(0, "c", Named("c"));
  ASSERT_NE(cache.Find("a"), nullptr);  // a is now the most recent
  cache.Evict();
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  EXPECT_EQ(cache.Find("b"), nullptr);
}

TEST(CustomerCacheTest, NeverEvictsDirtyEntries) {
  CustomerCache cache(1);
  cache.Insert(0, "a", Named("a"))->dirty = true;
  cache.Insert(0, "b", Named("b"))->dirty = true;
  cache.Insert(0, "c", Named("c"));
  cache.Evict();
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("b"), nullptr);
  EXPECT_EQ(cache.Find("c"), nullptr);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(CustomerCacheTest, EntriesAreStableAcrossInserts) {
  CustomerCache cache(1000);
  auto* a = cache.Insert(3, "a", Named("a"));
  for (int i = 0; i < 500; ++i) cache.Insert(3, "k" + std::to_string(i), Named("x"));
  EXPECT_EQ(cache.Find("a"), a);
  EXPECT_EQ(a->state.id(), "a");
  EXPECT_EQ(a->partition, 3);
}

TEST(CustomerCacheTest, DropPartitionForgetsOnlyThatPartition) {
  CustomerCache cache(10);
  cache.Insert(1, "a", Named("a"));
  cache.Insert(2, "b", Named("b"))->dirty = true;
  cache.Insert(1, "c", Named("c"));
  cache.DropPartition(1);
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(cache.Find("c"), nullptr);
  EXPECT_NE(cache.Find("b"), nullptr);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(CustomerCacheTest, InsertReplacesSameKey) {
  CustomerCache cache(10);
  cache.Insert(0, "a", Named("old"));
  cache.Insert(0, "a", Named("new"));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find("a")->state.id(), "new");
}

}  // namespace
}  // namespace cairn::state
