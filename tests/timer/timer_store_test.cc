#include "timer/timer_store.h"

#include <gtest/gtest.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <random>
#include <thread>

#include "test_support.h"

namespace cairn::timer {
namespace {

constexpr TimestampMs kDay = 86'400'000;

Timer T(int32_t partition, TimestampMs due, std::string customer, uint64_t tag = 0,
        std::string payload = "") {
  return Timer{partition, due, std::move(customer), tag, std::move(payload)};
}

std::vector<TimestampMs> Dues(const std::vector<Timer>& timers) {
  std::vector<TimestampMs> out;
  out.reserve(timers.size());
  for (const auto& t : timers) out.push_back(t.due_ms);
  return out;
}

// A real RocksDB in a temp dir, with a TimerStore over it; Reopen() is a
// process restart (all in-memory state gone, only what was written stays).
class TimerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    timers_.reset();
    store_.reset();
    auto store = state::StateStore::Open(
        {.dir = dir_.path(), .block_cache_bytes = 8 << 20, .write_buffer_bytes = 4 << 20});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    timers_ = std::make_unique<TimerStore>(store_.get());
  }

  void AddAll(const std::vector<Timer>& timers) {
    auto batch = store_->NewBatch();
    for (const auto& t : timers) timers_->Add(batch, t);
    ASSERT_TRUE(store_->Write(batch).ok());
  }

  std::vector<Timer> Due(int32_t partition, TimestampMs now, size_t limit = 1000) {
    std::vector<Timer> out;
    Status s = timers_->Due(partition, now, limit, out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  uint64_t Pending(int32_t partition) {
    auto n = timers_->CountPending(partition);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }

  // One firing pass as the engine does it: Due, Consume, Write.
  std::vector<Timer> Fire(int32_t partition, TimestampMs now, size_t limit = 1000) {
    auto due = Due(partition, now, limit);
    if (!due.empty()) {
      auto batch = store_->NewBatch();
      timers_->Consume(batch, partition, due.back());
      EXPECT_TRUE(store_->Write(batch).ok());
    }
    return due;
  }

  void PutRaw(const std::string& key, const std::string& value) {
    auto batch = store_->NewBatch();
    ASSERT_TRUE(batch.raw().Put(store_->timers_cf(), key, value).ok());
    ASSERT_TRUE(store_->Write(batch).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<TimerStore> timers_;
};

TEST(TimerKeyTest, RoundTripsAndSortsByPartitionDueCustomerTag) {
  std::vector<Timer> timers = {
      T(0, -5, "a"),
      T(0, std::numeric_limits<TimestampMs>::min(), "a"),
      T(0, 0, "a"),
      T(0, 0, "a", 1),
      T(0, 0, "b"),
      T(0, 0, "aa"),  // a longer id sorts after all shorter ones of the same due
      T(0, 1, "a"),
      T(0, std::numeric_limits<TimestampMs>::max(), "z", std::numeric_limits<uint64_t>::max()),
      T(1, std::numeric_limits<TimestampMs>::min(), ""),
      T(1, -1, std::string("\0\xff", 2), 7),
  };
  for (const auto& t : timers) {
    Timer back;
    back.payload = "kept";
    ASSERT_TRUE(DecodeTimerKey(EncodeTimerKey(t), back).ok());
    EXPECT_EQ(back.partition, t.partition);
    EXPECT_EQ(back.due_ms, t.due_ms);
    EXPECT_EQ(back.customer_id, t.customer_id);
    EXPECT_EQ(back.tag, t.tag);
    EXPECT_EQ(back.payload, "kept");
  }
  auto sorted = timers;
  std::sort(sorted.begin(), sorted.end(),
            [](const Timer& a, const Timer& b) { return EncodeTimerKey(a) < EncodeTimerKey(b); });
  std::vector<std::pair<int32_t, TimestampMs>> order;
  order.reserve(sorted.size());
  for (const auto& t : sorted) order.emplace_back(t.partition, t.due_ms);
  using L = std::numeric_limits<TimestampMs>;
  EXPECT_EQ(order, (std::vector<std::pair<int32_t, TimestampMs>>{{0, L::min()},
                                                                 {0, -5},
                                                                 {0, 0},
                                                                 {0, 0},
                                                                 {0, 0},
                                                                 {0, 0},
                                                                 {0, 1},
                                                                 {0, L::max()},
                                                                 {1, L::min()},
                                                                 {1, -1}}));
  // Within one due: (id length, id, tag).
  EXPECT_LT(EncodeTimerKey(T(0, 0, "a")), EncodeTimerKey(T(0, 0, "a", 1)));
  EXPECT_LT(EncodeTimerKey(T(0, 0, "a", 1)), EncodeTimerKey(T(0, 0, "b")));
  EXPECT_LT(EncodeTimerKey(T(0, 0, "b")), EncodeTimerKey(T(0, 0, "aa")));
  EXPECT_EQ(EncodeTimerKey(T(7, 1, "u")).substr(0, 4), TimerPartitionPrefix(7));
}

TEST(TimerKeyTest, DecodeRejectsMalformedKeys) {
  const std::string good = EncodeTimerKey(T(3, 42, "user-1", 9));
  Timer t;
  EXPECT_EQ(DecodeTimerKey("", t).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeTimerKey(good.substr(0, 23), t).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeTimerKey(good.substr(0, good.size() - 1), t).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeTimerKey(good + "x", t).code(), StatusCode::kInvalidArgument);
  std::string huge_len = good;
  huge_len[12] = '\xff';  // id length 0xff000006: must not read past the key
  EXPECT_EQ(DecodeTimerKey(huge_len, t).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(DecodeTimerKey(good, t).ok());
  EXPECT_EQ(t.customer_id, "user-1");
}

TEST_F(TimerStoreTest, DueReturnsOnePartitionInKeyOrderUpToNow) {
  std::vector<Timer> timers;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const int32_t p = i % 3;
    const TimestampMs due = static_cast<TimestampMs>(rng() % 200) - 100;  // negatives too
    timers.push_back(T(p, due, "user-" + std::to_string(i % 17), static_cast<uint64_t>(i),
                       "payload-" + std::to_string(i)));
  }
  std::shuffle(timers.begin(), timers.end(), rng);
  AddAll(timers);

  for (int32_t p = 0; p < 3; ++p) {
    std::vector<Timer> want;
    for (const auto& t : timers) {
      if (t.partition == p && t.due_ms <= 10) want.push_back(t);
    }
    std::sort(want.begin(), want.end(),
              [](const Timer& a, const Timer& b) { return EncodeTimerKey(a) < EncodeTimerKey(b); });
    EXPECT_EQ(Due(p, 10), want) << "partition " << p;
    EXPECT_EQ(Pending(p), 100u);
  }
  EXPECT_TRUE(Due(3, 1000).empty());
  EXPECT_TRUE(Due(0, -101).empty());
}

TEST_F(TimerStoreTest, EqualDuesAreAllReturnedAndLimitCutsInKeyOrder) {
  AddAll({T(0, 5, "c"), T(0, 5, "a", 2), T(0, 5, "a", 1), T(0, 5, "b"), T(0, 6, "a")});
  auto first = Due(0, 5, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0], T(0, 5, "a", 1));
  EXPECT_EQ(first[1], T(0, 5, "a", 2));
  EXPECT_EQ(Due(0, 5, 2), first) << "Due() alone consumes nothing";
  EXPECT_TRUE(Due(0, 5, 0).empty());
  EXPECT_EQ(Due(0, 5).size(), 4u);
  EXPECT_EQ(Due(0, 6).size(), 5u);
}

TEST_F(TimerStoreTest, CursorHidesConsumedTimersBeforeAndAfterTheWriteLands) {
  std::vector<Timer> timers;
  timers.reserve(10);
  for (int i = 0; i < 10; ++i) timers.push_back(T(1, i, "u", 0, "p" + std::to_string(i)));
  AddAll(timers);

  auto first = Due(1, 100, 4);
  ASSERT_EQ(Dues(first), (std::vector<TimestampMs>{0, 1, 2, 3}));
  auto batch = store_->NewBatch();  // the consuming batch is built, not written yet
  timers_->Consume(batch, 1, first.back());
  EXPECT_EQ(Pending(1), 10u) << "nothing is removed before the write";
  EXPECT_EQ(Dues(Due(1, 100, 4)), (std::vector<TimestampMs>{4, 5, 6, 7}));
  EXPECT_EQ(timers_->NextDue(1), 4);

  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Pending(1), 6u);
  EXPECT_EQ(Dues(Due(1, 100, 4)), (std::vector<TimestampMs>{4, 5, 6, 7}));
  EXPECT_EQ(timers_->NextDue(1), 4);

  // Forget (revoke) after the write: reading afresh gives the same answer.
  timers_->Forget(1);
  EXPECT_EQ(Dues(Due(1, 100, 4)), (std::vector<TimestampMs>{4, 5, 6, 7}));
}

TEST_F(TimerStoreTest, ForgetAfterADroppedBatchReadsTheTimersAgain) {
  AddAll({T(0, 1, "a"), T(0, 2, "b")});
  auto due = Due(0, 10);
  auto batch = store_->NewBatch();
  timers_->Consume(batch, 0, due.back());
  EXPECT_TRUE(Due(0, 10).empty());
  batch.Clear();  // the write failed and the caller drops the batch
  timers_->Forget(0);
  EXPECT_EQ(Due(0, 10), due);
}

TEST_F(TimerStoreTest, ConsumeIsOneRangeTombstoneAndSurvivesRestart) {
  std::vector<Timer> timers;
  timers.reserve(1001);
  for (int i = 0; i < 1000; ++i) {
    timers.push_back(T(2, i / 3, "user-" + std::to_string(i), static_cast<uint64_t>(i), "x"));
  }
  timers.push_back(T(3, 0, "other-partition"));
  AddAll(timers);

  std::vector<Timer> fired;
  for (int pass = 0; pass < 3; ++pass) {
    auto due = Due(2, 200, 150);
    ASSERT_EQ(due.size(), 150u);
    auto batch = store_->NewBatch();
    timers_->Consume(batch, 2, due.back());
    EXPECT_EQ(batch.count(), 1u) << "one DeleteRange per pass, not one delete per timer";
    ASSERT_TRUE(store_->Write(batch).ok());
    fired.insert(fired.end(), due.begin(), due.end());
  }
  ASSERT_EQ(fired.size(), 450u);
  EXPECT_EQ(Pending(2), 550u);

  Reopen();  // restart: the cursor is gone, the tombstones stay
  EXPECT_EQ(Pending(2), 550u);
  EXPECT_EQ(Pending(3), 1u);
  EXPECT_EQ(timers_->NextDue(2), 150);
  auto rest = Due(2, std::numeric_limits<TimestampMs>::max(), 10000);
  ASSERT_EQ(rest.size(), 550u);
  EXPECT_EQ(fired.back(), T(2, 149, "user-449", 449, "x"));
  EXPECT_EQ(rest.front(), T(2, 150, "user-450", 450, "x"));
  std::vector<std::string> keys;
  keys.reserve(fired.size() + rest.size());
  for (const auto& t : fired) keys.push_back(EncodeTimerKey(t));
  for (const auto& t : rest) keys.push_back(EncodeTimerKey(t));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end()) << "nothing fired comes back";
  EXPECT_EQ(keys.size(), 1000u) << "nothing unfired is lost";

  // After compaction the consumed rows are gone for good.
  ASSERT_TRUE(
      store_->db()
          ->CompactRange(rocksdb::CompactRangeOptions(), store_->timers_cf(), nullptr, nullptr)
          .ok());
  EXPECT_EQ(Pending(2), 550u);
}

TEST_F(TimerStoreTest, SteadyStateDueDoesNotWalkConsumedRanges) {
  std::vector<Timer> timers;
  timers.reserve(5000);
  for (int i = 0; i < 5000; ++i) timers.push_back(T(0, i, "user-" + std::to_string(i)));
  AddAll(timers);
  for (int pass = 0; pass < 49; ++pass) ASSERT_EQ(Fire(0, 1'000'000, 100).size(), 100u);

  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  auto due = Due(0, 1'000'000, 10);
  // Range-deleted entries are not "skipped" keys; count the steps instead.
  const auto* perf = rocksdb::get_perf_context();
  const uint64_t steps = perf->next_on_memtable_count + perf->internal_key_skipped_count +
                         perf->internal_delete_skipped_count;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  ASSERT_EQ(due.size(), 10u);
  EXPECT_EQ(due.front().due_ms, 4900);
  // 4,900 consumed entries lie before the cursor; walking them would be ~5,000 steps.
  EXPECT_LT(steps, 500u) << "the cursor is the iterator's lower bound";
}

TEST_F(TimerStoreTest, TimerAddedAfterConsumeWithLaterDueIsKept) {
  AddAll({T(0, 1, "a"), T(0, 2, "b"), T(0, 3, "c")});
  auto due = Due(0, 2);
  ASSERT_EQ(due.size(), 2u);
  auto batch = store_->NewBatch();
  timers_->Consume(batch, 0, due.back());
  timers_->Add(batch, T(0, 2, "c"));  // same due as `last`, sorts after it
  timers_->Add(batch, T(0, 50, "a", 0, "next step"));
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Pending(0), 3u);
  EXPECT_EQ(timers_->NextDue(0), 2);
  Reopen();
  EXPECT_EQ(Dues(Due(0, 100)), (std::vector<TimestampMs>{2, 3, 50}));
  EXPECT_EQ(Due(0, 100).back().payload, "next step");
}

TEST_F(TimerStoreTest, LateTimerBelowTheCursorFiresOnceAndIsDeleted) {
  AddAll({T(0, 10, "a"), T(0, 20, "b"), T(0, 30, "c")});
  ASSERT_EQ(Fire(0, 20).size(), 2u);  // cursor at (20, "b")
  // An event processed late asks for a timer already due (below the cursor).
  auto batch = store_->NewBatch();
  timers_->Add(batch, T(0, 15, "late", 1, "late payload"));
  timers_->Add(batch, T(0, 20, "a"));  // equal due, key below (20, "b")
  EXPECT_EQ(timers_->NextDue(0), 15);
  // Returned before its batch is written (it is in memory), first, in key order.
  auto due = Due(0, 30);
  ASSERT_EQ(Dues(due), (std::vector<TimestampMs>{15, 20, 30}));
  EXPECT_EQ(due[0].payload, "late payload");
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Pending(0), 3u);

  auto consume = store_->NewBatch();
  timers_->Consume(consume, 0, due.back());
  ASSERT_TRUE(store_->Write(consume).ok());
  EXPECT_EQ(Pending(0), 0u);
  EXPECT_TRUE(Due(0, 100).empty());
  EXPECT_EQ(timers_->NextDue(0), std::nullopt);
  Reopen();
  EXPECT_EQ(Pending(0), 0u);
}

TEST_F(TimerStoreTest, TimerAddedBetweenDueAndConsumeBelowLastSurvives) {
  AddAll({T(0, 1, "a"), T(0, 2, "b"), T(0, 3, "c"), T(0, 9, "d")});
  auto due = Due(0, 3);
  ASSERT_EQ(due.size(), 3u);
  // Firing (1, a) runs a step that waits 0: a timer at (2, "z"), below `last`
  // (3, "c"), put into the consuming batch BEFORE the range tombstone.
  auto batch = store_->NewBatch();
  timers_->Add(batch, T(0, 2, "z", 0, "zero wait"));
  timers_->Consume(batch, 0, due.back());
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Pending(0), 2u) << "(2, z) and (9, d)";
  EXPECT_EQ(timers_->NextDue(0), 2);
  auto next = Due(0, 3);
  ASSERT_EQ(next, (std::vector<Timer>{T(0, 2, "z", 0, "zero wait")}));
  Reopen();
  EXPECT_EQ(Dues(Due(0, 100)), (std::vector<TimestampMs>{2, 9}));
}

TEST_F(TimerStoreTest, TimerAddedInAnEarlierBatchBetweenDueAndConsumeSurvives) {
  AddAll({T(0, 1, "a"), T(0, 3, "c")});
  auto due = Due(0, 3);
  ASSERT_EQ(due.size(), 2u);
  AddAll({T(0, 2, "z")});  // its own batch, written before the consuming one
  auto batch = store_->NewBatch();
  timers_->Consume(batch, 0, due.back());
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Due(0, 3), (std::vector<Timer>{T(0, 2, "z")}));
  Fire(0, 3);
  EXPECT_EQ(Pending(0), 0u);
  Reopen();
  EXPECT_TRUE(Due(0, 100).empty()) << "fired once, not put back again";
}

TEST_F(TimerStoreTest, SecondDueBeforeConsumeBoundsAtAnUnreadableAdd) {
  AddAll({T(0, 1, "a"), T(0, 2, "b"), T(0, 3, "c")});
  ASSERT_EQ(Due(0, 3).size(), 3u);
  auto in_flight = store_->NewBatch();
  timers_->Add(in_flight, T(0, 2, "z"));
  auto again = Due(0, 3);  // a new answer: stops before (2, z), not readable yet
  ASSERT_EQ(Dues(again), (std::vector<TimestampMs>{1, 2}));
  auto batch = store_->NewBatch();
  timers_->Consume(batch, 0, again.back());
  ASSERT_TRUE(store_->Write(in_flight).ok());
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Due(0, 3), (std::vector<Timer>{T(0, 2, "z"), T(0, 3, "c")}));
}

TEST_F(TimerStoreTest, SecondDueReturningAnAddedTimerConsumesItOnce) {
  AddAll({T(0, 1, "a"), T(0, 3, "c")});
  ASSERT_EQ(Due(0, 3).size(), 2u);
  AddAll({T(0, 2, "z")});  // added after the first answer, readable
  auto again = Due(0, 3);
  ASSERT_EQ(Dues(again), (std::vector<TimestampMs>{1, 2, 3}));
  auto batch = store_->NewBatch();
  timers_->Consume(batch, 0, again.back());
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Pending(0), 0u) << "(2, z) was in the answer: fired, not put back";
  EXPECT_TRUE(Due(0, 3).empty());
}

TEST_F(TimerStoreTest, LateTimerNotFiredYetSurvivesRestart) {
  AddAll({T(0, 10, "a"), T(0, 20, "b")});
  ASSERT_EQ(Fire(0, 20).size(), 2u);
  AddAll({T(0, 5, "late")});
  Reopen();
  EXPECT_EQ(Due(0, 100), (std::vector<Timer>{T(0, 5, "late")}));
}

TEST_F(TimerStoreTest, DueStopsBeforeAnAddedTimerWhoseBatchIsInFlight) {
  AddAll({T(0, 1, "a"), T(0, 3, "c"), T(0, 5, "e")});
  // Batch N (in flight on the writer thread) adds a timer due at 2.
  auto in_flight = store_->NewBatch();
  timers_->Add(in_flight, T(0, 2, "b", 0, "in flight"));
  EXPECT_EQ(timers_->NextDue(0), 1);
  // Batch N+1: a firing pass. It must not range-delete past (2, "b"): that
  // tombstone would land after batch N and delete the timer unfired.
  auto due = Due(0, 10);
  ASSERT_EQ(Dues(due), (std::vector<TimestampMs>{1}));
  auto next = store_->NewBatch();
  timers_->Consume(next, 0, due.back());
  EXPECT_EQ(timers_->NextDue(0), 2) << "counts the timer that is not readable yet";
  ASSERT_TRUE(store_->Write(in_flight).ok());
  ASSERT_TRUE(store_->Write(next).ok());
  auto rest = Due(0, 10);
  ASSERT_EQ(Dues(rest), (std::vector<TimestampMs>{2, 3, 5}));
  EXPECT_EQ(rest[0].payload, "in flight");
}

TEST_F(TimerStoreTest, ManyAddsInFlightArePrunedOnceWritten) {
  // Enough adds to trigger pruning while the batch is unwritten, then more.
  auto batch = store_->NewBatch();
  for (int i = 0; i < 5000; ++i) timers_->Add(batch, T(0, 1000 + i, "u" + std::to_string(i)));
  EXPECT_TRUE(Due(0, 100'000).empty()) << "all unwritten";
  ASSERT_TRUE(store_->Write(batch).ok());
  auto more = store_->NewBatch();
  for (int i = 0; i < 3000; ++i) timers_->Add(more, T(0, 10 + i, "v" + std::to_string(i)));
  // (10, v0) is not readable: nothing at or after it may be returned.
  EXPECT_TRUE(Due(0, 100'000).empty());
  ASSERT_TRUE(store_->Write(more).ok());
  EXPECT_EQ(Due(0, 100'000, 100'000).size(), 8000u);
}

TEST_F(TimerStoreTest, MalformedKeysAreSkippedCountedAndRemovedByTheNextRange) {
  const std::string prefix = TimerPartitionPrefix(4);
  PutRaw(prefix + "x", "garbage");  // too short
  AddAll({T(4, 1, "a", 0, "one"), T(4, 3, "c", 0, "three")});
  std::string bad = EncodeTimerKey(T(4, 2, "b"));
  bad[14] = '\x7f';  // the id length no longer matches
  PutRaw(bad, "garbage");
  ASSERT_EQ(Pending(4), 4u);

  EXPECT_EQ(timers_->NextDue(4), 1) << "skips the malformed first key";
  auto due = Due(4, 10);
  EXPECT_EQ(due, (std::vector<Timer>{T(4, 1, "a", 0, "one"), T(4, 3, "c", 0, "three")}));
  EXPECT_EQ(timers_->malformed_keys(), 2u);
  auto batch = store_->NewBatch();
  timers_->Consume(batch, 4, due.back());
  ASSERT_TRUE(store_->Write(batch).ok());
  EXPECT_EQ(Pending(4), 0u);
}

TEST_F(TimerStoreTest, NextDueFollowsAddsConsumesAndRestarts) {
  EXPECT_EQ(timers_->NextDue(0), std::nullopt);
  auto batch = store_->NewBatch();
  timers_->Add(batch, T(0, 500, "a"));
  EXPECT_EQ(timers_->NextDue(0), 500) << "before the write lands";
  timers_->Add(batch, T(0, -7, "b"));
  timers_->Add(batch, T(1, 3, "other"));
  EXPECT_EQ(timers_->NextDue(0), -7);
  EXPECT_EQ(timers_->NextDue(1), 3);
  ASSERT_TRUE(store_->Write(batch).ok());
  AddAll({T(0, 100, "c"), T(0, 100, "d")});
  EXPECT_EQ(timers_->NextDue(0), -7);

  auto due = Due(0, 100, 2);  // (-7, b), (100, c)
  ASSERT_EQ(Dues(due), (std::vector<TimestampMs>{-7, 100}));
  auto consume = store_->NewBatch();
  timers_->Consume(consume, 0, due.back());
  EXPECT_EQ(timers_->NextDue(0), 100) << "(100, d) is next, not the consumed (100, c)";
  ASSERT_TRUE(store_->Write(consume).ok());
  EXPECT_EQ(timers_->NextDue(0), 100);
  ASSERT_EQ(Fire(0, 100).size(), 1u);
  EXPECT_EQ(timers_->NextDue(0), 500);
  Reopen();
  EXPECT_EQ(timers_->NextDue(0), 500);
  EXPECT_EQ(timers_->NextDue(1), 3);
  ASSERT_EQ(Fire(0, 1000).size(), 1u);
  EXPECT_EQ(timers_->NextDue(0), std::nullopt);
  timers_->Forget(1);
  EXPECT_EQ(timers_->NextDue(1), 3);
}

TEST_F(TimerStoreTest, CountPendingRunsOnAnotherThread) {
  std::atomic<bool> done{false};
  std::atomic<uint64_t> last{0};
  std::thread reader([&] {
    while (!done) {
      auto n = timers_->CountPending(0);
      ASSERT_TRUE(n.ok());
      ASSERT_GE(*n, last.load()) << "the count only grows while timers are added";
      last = *n;
    }
  });
  for (int b = 0; b < 20; ++b) {
    std::vector<Timer> timers;
    timers.reserve(500);
    for (int i = 0; i < 500; ++i) timers.push_back(T(0, b * 1000 + i, "u"));
    AddAll(timers);
  }
  done = true;
  reader.join();
  EXPECT_EQ(Pending(0), 10000u);
}

}  // namespace
}  // namespace cairn::timer
