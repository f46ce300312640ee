// GDPR erasure end to end: the real engine on an embedded broker (librdkafka
// mock cluster), real RocksDB, the HTTP API. DELETE /v1/customers/{id}
// produces a signed control event; the engine that owns the customer erases
// them in that message's WriteBatch.
#include "erasure/erasure.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/engine_api.h"
#include "api/http_server.h"
#include "cairn/murmur2.h"
#include "cairn/time.h"
#include "dispatch/dispatcher.h"
#include "engine_api_fixture.h"
#include "flow/library.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "labels/label_publisher.h"
#include "profile/profile_store.h"
#include "runtime/engine.h"
#include "state/state_store.h"
#include "test_support.h"
#include "timer/timer_store.h"

namespace cairn {
namespace {

using nlohmann::json;

constexpr char kProfile[] = R"(traits:
  orders_total: { count: Order Completed }
lifecycle:
  initial: new
  stages: [new, active]
  transitions:
    - { from: new, to: active, on: Order Completed }
segments:
  buyers: "traits.orders_total > 0"
)";

class ErasureTest : public testing::EngineApiFixture {
 protected:
  void SetUp() override { SetUpEngine("er", testing::kWelcomeJourney, kProfile); }

  void Produce(const json& e, const kafka::Headers& headers = {}) {
    ASSERT_TRUE(
        producer_
            ->Produce(options_.topics.events, e["userId"].get<std::string>(), e.dump(), headers)
            .ok());
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }
  void Track(const std::string& user, const std::string& event, const std::string& id,
             TimestampMs ts, json properties = json::object()) {
    Produce({{"type", "track"},
             {"userId", user},
             {"event", event},
             {"messageId", id},
             {"timestamp", FormatTimestamp(ts)},
             {"properties", properties}});
  }

  json Get(const std::string& target, int want) {
    auto r = testing::HttpCall("GET", http_->address(), target);
    EXPECT_EQ(r.status, want) << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }

  // Waits until the engine has consumed everything produced so far.
  bool CaughtUp(uint64_t messages) {
    return testing::WaitFor([&] { return engine_->metrics().messages >= messages; },
                            std::chrono::seconds(20));
  }

  // Produces an event for a fresh customer on `id`'s partition and waits
  // until it is stored: everything produced before on that partition is
  // then consumed too.
  bool Barrier(const std::string& id) {
    std::string marker;
    for (int i = 0; marker.empty() && i < 1000; ++i) {
      const std::string m = "marker-" + std::to_string(++markers_) + "-" + std::to_string(i);
      if (PartitionOf(m) == PartitionOf(id)) marker = m;
    }
    Track(marker, "Marker", marker, SystemClock::Instance().NowMs());
    return testing::WaitFor(
        [&] {
          auto c = store_->GetCustomer(PartitionOf(marker), marker);
          return c.ok() && c->has_value();
        },
        std::chrono::seconds(20));
  }

  size_t RingSize(rocksdb::ColumnFamilyHandle* cf, const std::string& id) {
    const std::string prefix = state::StateStore::CustomerKey(PartitionOf(id), id);
    std::unique_ptr<rocksdb::Iterator> it(store_->db()->NewIterator({}, cf));
    size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  }
  size_t TimersOf(const std::string& id) {
    std::unique_ptr<rocksdb::Iterator> it(store_->db()->NewIterator({}, store_->timers_cf()));
    size_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      timer::Timer t;
      if (timer::DecodeTimerKey(it->key().ToStringView(), t).ok() && t.customer_id == id) ++n;
    }
    return n;
  }
  int64_t Summed(const std::string& what, const std::string& name) {
    auto stats = profile::SummedStats(*store_, options_.topics.events);
    const auto& m = what == "segments" ? stats.segments() : stats.stages();
    auto it = m.find(name);
    return it == m.end() ? 0 : it->second;
  }

  int markers_ = 0;
};

TEST_F(ErasureTest, EraseRemovesEverythingAndTheTombstoneBlocksOldEvents) {
  StartEngine();
  const TimestampMs t0 = SystemClock::Instance().NowMs() - 60000;
  const std::string ann = "ann@example.com";
  Track(ann, "Signed Up", "m1", t0);
  Track(ann, "Order Completed", "m2", t0 + 1000, {{"total", 42}});
  Track("bob", "Signed Up", "b1", t0);
  Track("bob", "Order Completed", "b2", t0 + 1000, {{"total", 7}});
  ASSERT_TRUE(CaughtUp(4));
  ASSERT_TRUE(testing::WaitFor([&] { return TimersOf(ann) > 0; }, std::chrono::seconds(10)));

  // Before: Ann is there, with history, trace, a 30-day timer, a segment.
  json before = Get("/v1/customers/" + ann, 200);
  json timeline = Get("/v1/customers/" + ann + "/timeline", 200);
  ASSERT_GE(timeline["items"].size(), 3u) << timeline.dump();
  bool saw_event = false, saw_decision = false;
  for (const auto& item : timeline["items"]) {
    saw_event |= item["type"] == "event";
    saw_decision |= item["type"] == "decision";
  }
  EXPECT_TRUE(saw_event && saw_decision) << timeline.dump();
  // Newest first.
  for (size_t i = 1; i < timeline["items"].size(); ++i) {
    EXPECT_GE(ParseTimestamp(timeline["items"][i - 1]["at"].get<std::string>()).value(),
              ParseTimestamp(timeline["items"][i]["at"].get<std::string>()).value());
  }
  json trace = Get("/v1/customers/" + ann + "/trace?journey=welcome", 200);
  ASSERT_FALSE(trace["trace"].empty());
  std::string task_id;
  for (const auto& l : trace["trace"]) {
    EXPECT_EQ(l["journey"], "welcome");
    if (l.contains("task_id")) task_id = l["task_id"];
  }
  ASSERT_FALSE(task_id.empty()) << trace.dump();
  EXPECT_TRUE(Get("/v1/customers/" + ann + "/trace?journey=other", 200)["trace"].empty());
  EXPECT_GT(RingSize(store_->history_cf(), ann), 0u);
  EXPECT_EQ(Summed("segments", "buyers"), 2);
  EXPECT_EQ(Summed("stages", "active"), 2);

  // The dispatcher's ledger row of Ann's send (as the dispatcher writes it).
  v1::LedgerEntry row;
  row.set_task_id(task_id);
  row.set_customer_id(ann);
  row.set_channel("email");
  row.set_state(v1::LedgerEntry::BOUNCED);
  row.set_reason("550 ann@example.com: no such user");
  auto* a = row.add_attempts();
  a->set_result("permanent");
  a->set_code(550);
  a->set_detail("550 5.1.1 <ann@example.com> unknown");
  ASSERT_TRUE(store_->db()
                  ->Put({}, store_->dispatch_cf(), dispatch::Dispatcher::LedgerKey(task_id),
                        row.SerializeAsString())
                  .ok());

  // Erase.
  auto r = testing::HttpCall("DELETE", http_->address(), "/v1/customers/" + ann);
  ASSERT_EQ(r.status, 202) << r.body;
  json accepted = json::parse(r.body);
  EXPECT_EQ(accepted["erasure_id"].get<std::string>().size(), 32u);
  ASSERT_TRUE(
      testing::WaitFor([&] { return engine_->metrics().erasures == 1; }, std::chrono::seconds(20)));
  ASSERT_TRUE(CaughtUp(5));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::HttpCall("GET", http_->address(), "/v1/customers/" + ann).status == 404;
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(Get("/v1/customers/" + ann, 404)["error"]["code"], "erased");
  EXPECT_EQ(Get("/v1/customers/" + ann + "/timeline", 404)["error"]["code"], "erased");
  EXPECT_EQ(Get("/v1/customers/nobody", 404)["error"]["code"], "customer_not_found");
  // State, history, trace, timers, segment membership gone; counts down by one.
  EXPECT_FALSE(store_->GetCustomer(PartitionOf(ann), ann)->has_value());
  EXPECT_EQ(RingSize(store_->history_cf(), ann), 0u);
  EXPECT_EQ(RingSize(store_->trace_cf(), ann), 0u);
  EXPECT_EQ(TimersOf(ann), 0u);
  EXPECT_TRUE(profile::SegmentSample(*store_, "buyers", 10).size() == 1);
  EXPECT_EQ(Summed("segments", "buyers"), 1);
  EXPECT_EQ(Summed("stages", "active"), 1);
  // The ledger row is kept for accounting, without PII.
  std::string value;
  ASSERT_TRUE(store_->db()
                  ->Get({}, store_->dispatch_cf(), dispatch::Dispatcher::LedgerKey(task_id), &value)
                  .ok());
  v1::LedgerEntry scrubbed;
  ASSERT_TRUE(scrubbed.ParseFromString(value));
  EXPECT_EQ(scrubbed.task_id(), task_id);
  EXPECT_EQ(scrubbed.state(), v1::LedgerEntry::BOUNCED);
  EXPECT_EQ(scrubbed.attempts(0).code(), 550);
  EXPECT_EQ(value.find("ann@example.com"), std::string::npos);
  // Bob is untouched (his 2 events plus what the profile stage emitted).
  EXPECT_GE(Get("/v1/customers/bob", 200)["events_total"].get<int>(), 2);
  EXPECT_GT(TimersOf("bob"), 0u);

  // A redelivered old event stays erased; a newer one starts a new customer.
  ASSERT_TRUE(Barrier(ann));
  const uint64_t dropped = engine_->metrics().erased_dropped;
  Track(ann, "Order Completed", "m2-again", t0 + 2000, {{"total", 42}});
  ASSERT_TRUE(Barrier(ann));
  EXPECT_EQ(engine_->metrics().erased_dropped, dropped + 1);
  EXPECT_EQ(Get("/v1/customers/" + ann, 404)["error"]["code"], "erased");
  const TimestampMs later = SystemClock::Instance().NowMs() + 1000;
  Track(ann, "Signed Up", "m3", later);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::HttpCall("GET", http_->address(), "/v1/customers/" + ann).status == 200;
      },
      std::chrono::seconds(10)));
  json fresh = Get("/v1/customers/" + ann, 200);
  EXPECT_EQ(fresh["events_total"], 1);
  EXPECT_EQ(fresh["first_seen"], FormatTimestamp(later));
  StopEngine();
}

TEST_F(ErasureTest, ForgedControlEventsAreRefusedAndPlainOnesAreJustEvents) {
  StartEngine();
  const TimestampMs t0 = SystemClock::Instance().NowMs() - 60000;
  Track("cy", "Signed Up", "c1", t0);
  ASSERT_TRUE(CaughtUp(1));
  // A client on the public topic: the marker headers with a made-up signature.
  erasure::Request req{"cy", "feedfeedfeedfeedfeedfeedfeedfeed", t0 + 5000};
  auto forged = erasure::ControlMessage("not the secret, just a guess", req);
  ASSERT_TRUE(
      producer_->Produce(options_.topics.events, forged.key, forged.payload, forged.headers).ok());
  ASSERT_TRUE(producer_->Flush(10000).ok());
  // And the event name alone, no headers.
  Track("cy", std::string(erasure::kErasedEvent), "c2", t0 + 6000);
  ASSERT_TRUE(CaughtUp(3));
  ASSERT_TRUE(testing::WaitFor([&] { return engine_->metrics().controls_refused == 1; },
                               std::chrono::seconds(10)));
  EXPECT_EQ(engine_->metrics().erasures, 0u);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = testing::HttpCall("GET", http_->address(), "/v1/customers/cy");
        auto j = json::parse(r.body, nullptr, false);
        return r.status == 200 && j["events_total"] == 2;
      },
      std::chrono::seconds(10)));
  StopEngine();
}

TEST_F(ErasureTest, ReplayingTheControlEventIsIdempotent) {
  // The same control event twice (a replay after a crash between the write
  // and the offset commit looks like this): erased once, counts unchanged.
  StartEngine();
  const TimestampMs t0 = SystemClock::Instance().NowMs() - 60000;
  Track("dee", "Order Completed", "d1", t0, {{"total", 5}});
  Track("eve", "Order Completed", "e1", t0, {{"total", 5}});
  ASSERT_TRUE(CaughtUp(2));
  ASSERT_TRUE(testing::WaitFor([&] { return Summed("segments", "buyers") == 2; },
                               std::chrono::seconds(10)));
  // Erased now: the profile stage's own events about dee (dated when it
  // decided, on the wall clock) are older, so they cannot bring dee back.
  const TimestampMs erased_at = SystemClock::Instance().NowMs();
  erasure::Request req{"dee", erasure::NewErasureId(), erased_at};
  auto m = erasure::ControlMessage(options_.erasure_secret, req);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(producer_->Produce(options_.topics.events, m.key, m.payload, m.headers).ok());
  }
  ASSERT_TRUE(producer_->Flush(10000).ok());
  ASSERT_TRUE(CaughtUp(4));
  ASSERT_TRUE(
      testing::WaitFor([&] { return engine_->metrics().erasures == 2; }, std::chrono::seconds(10)));
  StopEngine();  // everything written
  EXPECT_EQ(Summed("segments", "buyers"), 1);
  EXPECT_FALSE(store_->GetCustomer(PartitionOf("dee"), "dee")->has_value());
  EXPECT_EQ(erasure::ReadTombstone(*store_, options_.erasure_secret, "dee"), erased_at);
  EXPECT_FALSE(erasure::ReadTombstone(*store_, options_.erasure_secret, "eve").has_value());
  // A restart still knows the tombstone (the engine looks for it on open).
  StartEngine();
  ASSERT_TRUE(Barrier("dee"));
  const uint64_t dropped = engine_->metrics().erased_dropped;
  Track("dee", "Order Completed", "d2", t0 + 500, {{"total", 5}});
  ASSERT_TRUE(Barrier("dee"));
  EXPECT_EQ(engine_->metrics().erased_dropped, dropped + 1);
  EXPECT_FALSE(store_->GetCustomer(PartitionOf("dee"), "dee")->has_value());
  StopEngine();
}

TEST_F(ErasureTest, ErasingAMergedCustomerErasesTheIdsLinkedToIt) {
  StartEngine();
  const TimestampMs t0 = SystemClock::Instance().NowMs() - 60000;
  // An anonymous visitor who then signs in, with an e-mail address: the
  // anonymous id becomes a forward pointer, the address a claim node.
  const json anon = {{"type", "track"},
                     {"anonymousId", "anon-zoe"},
                     {"event", "Product Viewed"},
                     {"messageId", "z1"},
                     {"timestamp", FormatTimestamp(t0)}};
  ASSERT_TRUE(producer_->Produce(options_.topics.events, "anon-zoe", anon.dump()).ok());
  Produce({{"type", "identify"},
           {"userId", "zoe"},
           {"anonymousId", "anon-zoe"},
           {"messageId", "z2"},
           {"timestamp", FormatTimestamp(t0 + 1000)},
           {"traits", {{"email", "zoe@example.com"}}}});
  std::vector<std::string> linked;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto pointer = store_->GetCustomer(PartitionOf("anon-zoe"), "anon-zoe");
        auto zoe = store_->GetCustomer(PartitionOf("zoe"), "zoe");
        if (!pointer.ok() || !pointer->has_value() || !zoe.ok() || !zoe->has_value()) return false;
        if ((*pointer)->identity().forwarded_to() != "zoe") return false;
        linked.assign((*zoe)->identity().linked().begin(), (*zoe)->identity().linked().end());
        return (*zoe)->identity().merged_from_size() == 1 && linked.size() >= 2;
      },
      std::chrono::seconds(20)));
  std::string node;
  for (const auto& l : linked) {
    if (l.starts_with("$id:email:")) node = l;
  }
  ASSERT_FALSE(node.empty()) << "the e-mail claim node is linked";
  ASSERT_TRUE(store_->GetCustomer(PartitionOf(node), node)->has_value());

  auto r = testing::HttpCall("DELETE", http_->address(), "/v1/customers/zoe");
  ASSERT_EQ(r.status, 202) << r.body;
  for (const std::string id : {std::string("zoe"), std::string("anon-zoe"), node}) {
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          return erasure::ReadTombstone(*store_, options_.erasure_secret, id).has_value() &&
                 !store_->GetCustomer(PartitionOf(id), id)->has_value();
        },
        std::chrono::seconds(20)))
        << id << " is still there";
  }
  // An old event of the anonymous id no longer reaches anybody.
  ASSERT_TRUE(Barrier("anon-zoe"));
  const uint64_t dropped = engine_->metrics().erased_dropped;
  ASSERT_TRUE(producer_->Produce(options_.topics.events, "anon-zoe", anon.dump()).ok());
  ASSERT_TRUE(Barrier("anon-zoe"));
  EXPECT_EQ(engine_->metrics().erased_dropped, dropped + 1);
  EXPECT_FALSE(store_->GetCustomer(PartitionOf("zoe"), "zoe")->has_value());
  StopEngine();
}

}  // namespace
}  // namespace cairn
