#include "state/customer_state.h"

#include <gtest/gtest.h>

namespace cairn::state {
namespace {

Event Track(const std::string& user, const std::string& name, TimestampMs ts,
            const std::string& message_id = "") {
  Event e;
  e.type = EventType::kTrack;
  e.user_id = user;
  e.name = name;
  e.timestamp_ms = ts;
  e.message_id = message_id;
  e.properties_json = "{}";
  e.traits_json = "{}";
  return e;
}

const v1::EventStats* Stats(const v1::CustomerState& s, const std::string& name) {
  for (const auto& e : s.events()) {
    if (e.name() == name) return &e;
  }
  return nullptr;
}

TEST(ApplyTest, CountsFirstLastAndSums) {
  StateOptions opts;
  v1::CustomerState s;
  Event a = Track("u1", "Order Completed", 2000, "m1");
  a.numeric_properties = {{"total", 10.5}, {"ignored", 99}};
  Event b = Track("u1", "Order Completed", 1000, "m2");  // arrives late, earlier event time
  b.numeric_properties = {{"total", 4.5}, {"quantity", 2}};
  Event c = Track("u1", "Page Viewed", 1500, "m3");
  ASSERT_EQ(Apply(opts, a, s, nullptr), ApplyResult::kApplied);
  ASSERT_EQ(Apply(opts, b, s, nullptr), ApplyResult::kApplied);
  ASSERT_EQ(Apply(opts, c, s, nullptr), ApplyResult::kApplied);

  EXPECT_EQ(s.id(), "u1");
  EXPECT_EQ(s.events_total(), 3u);
  EXPECT_EQ(s.first_seen_ms(), 1000);
  EXPECT_EQ(s.last_seen_ms(), 2000);
  const auto* orders = Stats(s, "Order Completed");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->count(), 2u);
  EXPECT_EQ(orders->first_at_ms(), 1000);
  EXPECT_EQ(orders->last_at_ms(), 2000);
  EXPECT_DOUBLE_EQ(orders->sums().at("total"), 15.0);
  EXPECT_DOUBLE_EQ(orders->sums().at("quantity"), 2.0);
  EXPECT_EQ(orders->sums().count("ignored"), 0u);
  ASSERT_NE(Stats(s, "Page Viewed"), nullptr);
  EXPECT_EQ(Stats(s, "Page Viewed")->count(), 1u);
}

TEST(ApplyTest, DuplicateMessageIdChangesNothing) {
  StateOptions opts;
  v1::CustomerState s;
  ASSERT_EQ(Apply(opts, Track("u", "X", 1, "same"), s, nullptr), ApplyResult::kApplied);
  const std::string before = s.SerializeAsString();
  EXPECT_EQ(Apply(opts, Track("u", "X", 5, "same"), s, nullptr), ApplyResult::kDuplicate);
  EXPECT_EQ(s.SerializeAsString(), before);
  // Events without a messageId are never deduplicated.
  EXPECT_EQ(Apply(opts, Track("u", "X", 1), s, nullptr), ApplyResult::kApplied);
  EXPECT_EQ(Apply(opts, Track("u", "X", 1), s, nullptr), ApplyResult::kApplied);
  EXPECT_EQ(Stats(s, "X")->count(), 3u);
}

TEST(ApplyTest, DedupWindowIsBounded) {
  StateOptions opts;
  opts.dedup_window = 4;
  v1::CustomerState s;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(Apply(opts, Track("u", "X", i, "m" + std::to_string(i)), s, nullptr),
              ApplyResult::kApplied);
  }
  EXPECT_EQ(s.recent_message_ids_size(), 4);
  // m5..m2 are remembered; m0 and m1 fell out of the window.
  EXPECT_EQ(Apply(opts, Track("u", "X", 9, "m2"), s, nullptr), ApplyResult::kDuplicate);
  EXPECT_EQ(Apply(opts, Track("u", "X", 9, "m5"), s, nullptr), ApplyResult::kDuplicate);
  EXPECT_EQ(Apply(opts, Track("u", "X", 9, "m0"), s, nullptr), ApplyResult::kApplied);
}

TEST(ApplyTest, IdentifyMergesTraits) {
  StateOptions opts;
  v1::CustomerState s;
  Event id1 = Track("u", "Identify", 1, "i1");
  id1.type = EventType::kIdentify;
  id1.traits_json = R"({"email":"a@example.com","plan":"free","age":30})";
  Event id2 = id1;
  id2.message_id = "i2";
  id2.traits_json = R"({"plan":"pro","city":"Lyon","age":null})";
  ASSERT_EQ(Apply(opts, id1, s, nullptr), ApplyResult::kApplied);
  ASSERT_EQ(Apply(opts, id2, s, nullptr), ApplyResult::kApplied);
  EXPECT_EQ(s.traits_json(), R"({"age":null,"city":"Lyon","email":"a@example.com","plan":"pro"})");
  // A track event's traits are not profile traits.
  Event t = Track("u", "X", 2, "t1");
  t.traits_json = R"({"plan":"hacked"})";
  ASSERT_EQ(Apply(opts, t, s, nullptr), ApplyResult::kApplied);
  EXPECT_NE(s.traits_json().find("\"pro\""), std::string::npos);
}

TEST(ApplyTest, HistoryEntryKeepsSmallPropertiesOnly) {
  StateOptions opts;
  opts.history_max_properties = 16;
  v1::CustomerState s;
  v1::HistoryEntry h;
  Event small = Track("u", "X", 7, "a");
  small.properties_json = R"({"k":1})";
  ASSERT_EQ(Apply(opts, small, s, &h), ApplyResult::kApplied);
  EXPECT_EQ(h.name(), "X");
  EXPECT_EQ(h.timestamp_ms(), 7);
  EXPECT_EQ(h.message_id(), "a");
  EXPECT_EQ(h.properties_json(), R"({"k":1})");
  Event big = Track("u", "Y", 8, "b");
  big.properties_json = R"({"k":"a long value over sixteen bytes"})";
  ASSERT_EQ(Apply(opts, big, s, &h), ApplyResult::kApplied);
  EXPECT_EQ(h.name(), "Y");
  EXPECT_TRUE(h.properties_json().empty());
}

TEST(ApplyTest, MessageIdHashIsStable) {
  // FNV-1a 64 reference values: the hash is persisted, so it must never change.
  EXPECT_EQ(MessageIdHash(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(MessageIdHash("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_NE(MessageIdHash("m1"), MessageIdHash("m2"));
}

// ---- consent on Unsubscribed / Subscribed (engine/api/tracking_routes, docs/templates.md)

TEST(ApplyTest, UnsubscribedSetsConsentForItsChannelOnly) {
  StateOptions opts;
  v1::CustomerState s;
  Event id = Track("u", "Identify", 1, "i1");
  id.type = EventType::kIdentify;
  id.traits_json = R"({"first_name":"Ana","consent":{"email":true,"sms":true}})";
  ASSERT_EQ(Apply(opts, id, s, nullptr), ApplyResult::kApplied);

  Event unsub = Track("u", "Unsubscribed", 2, "task-1:unsubscribed");
  unsub.properties_json = R"({"task_id":"task-1","channel":"email","method":"one-click"})";
  ASSERT_EQ(Apply(opts, unsub, s, nullptr), ApplyResult::kApplied);
  EXPECT_EQ(s.traits_json(), R"({"consent":{"email":false,"sms":true},"first_name":"Ana"})");
  const auto* stats = Stats(s, "Unsubscribed");
  ASSERT_NE(stats, nullptr);
  EXPECT_EQ(stats->count(), 1u);

  // A repeat of the same unsubscribe is dropped like any duplicate.
  const std::string before = s.SerializeAsString();
  EXPECT_EQ(Apply(opts, unsub, s, nullptr), ApplyResult::kDuplicate);
  EXPECT_EQ(s.SerializeAsString(), before);

  // Subscribed opts back in; other channels stay as they were.
  Event sub = Track("u", "Subscribed", 3, "s1");
  sub.properties_json = R"({"channel":"email"})";
  ASSERT_EQ(Apply(opts, sub, s, nullptr), ApplyResult::kApplied);
  EXPECT_EQ(s.traits_json(), R"({"consent":{"email":true,"sms":true},"first_name":"Ana"})");
}

TEST(ApplyTest, UnsubscribedCreatesConsentWhereThereWasNone) {
  StateOptions opts;
  v1::CustomerState s;
  Event unsub = Track("u", "Unsubscribed", 1, "m1");
  unsub.properties_json = R"({"channel":"sms"})";
  ASSERT_EQ(Apply(opts, unsub, s, nullptr), ApplyResult::kApplied);
  EXPECT_EQ(s.traits_json(), R"({"consent":{"sms":false}})");

  // A consent trait that is not an object becomes one.
  v1::CustomerState t;
  t.set_traits_json(R"({"consent":"yes","plan":"pro"})");
  ASSERT_EQ(Apply(opts, unsub, t, nullptr), ApplyResult::kApplied);
  EXPECT_EQ(t.traits_json(), R"({"consent":{"sms":false},"plan":"pro"})");
}

TEST(ApplyTest, ConsentNeedsATrackEventWithAChannel) {
  StateOptions opts;
  v1::CustomerState s;
  s.set_traits_json(R"({"consent":{"email":true}})");
  Event no_channel = Track("u", "Unsubscribed", 1, "a");
  no_channel.properties_json = R"({"task_id":"t"})";
  Event empty_channel = Track("u", "Unsubscribed", 2, "b");
  empty_channel.properties_json = R"({"channel":""})";
  Event number_channel = Track("u", "Unsubscribed", 3, "c");
  number_channel.properties_json = R"({"channel":7})";
  Event other_name = Track("u", "Message Clicked", 4, "d");
  other_name.properties_json = R"({"channel":"email"})";
  Event page = Track("u", "Unsubscribed", 5, "e");
  page.type = EventType::kPage;
  page.properties_json = R"({"channel":"email"})";
  for (const Event* e : {&no_channel, &empty_channel, &number_channel, &other_name, &page}) {
    ASSERT_EQ(Apply(opts, *e, s, nullptr), ApplyResult::kApplied);
  }
  EXPECT_EQ(s.traits_json(), R"({"consent":{"email":true}})");
}

}  // namespace
}  // namespace cairn::state
