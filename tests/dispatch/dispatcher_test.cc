// The dispatcher against a real RocksDB and the embedded Kafka broker, with
// scripted connectors (the real protocols have their own tests against real
// peers in tests/connectors and tests/integration).
#include "dispatch/dispatcher.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "kafka/consumer.h"
#include "kafka/embedded_broker.h"
#include "test_support.h"

namespace cairn::dispatch {
namespace {

using std::chrono::milliseconds;
using Clock_ = std::chrono::steady_clock;

// What every scripted connector of a test shares: the answers to give, in
// order, and what it was asked to send.
struct Script {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<SendResult> answers;  // empty: accepted
  std::vector<OutboundMessage> sent;
  std::vector<Clock_::time_point> at;
  bool hold = false;  // block every Send until released
  size_t calls() {
    std::lock_guard lock(mu);
    return sent.size();
  }
  void Release() {
    std::lock_guard lock(mu);
    hold = false;
    cv.notify_all();
  }
};

class ScriptedConnector final : public Connector {
 public:
  explicit ScriptedConnector(Script* s) : s_(s) {}
  SendResult Send(const OutboundMessage& m) override {
    std::unique_lock lock(s_->mu);
    s_->cv.wait(lock, [&] { return !s_->hold; });
    s_->sent.push_back(m);
    s_->at.push_back(Clock_::now());
    if (s_->answers.empty()) return SendResult::Accepted(250, "p-" + m.task_id);
    SendResult r = s_->answers.front();
    s_->answers.pop_front();
    return r;
  }

 private:
  Script* s_;
};

struct NoRebalance : kafka::RebalanceListener {
  void OnRevoke(const std::vector<kafka::TopicPartition>&) override {}
  void OnAssign(std::vector<kafka::TopicPartition>&) override {}
};

v1::Task MakeTask(const std::string& id, const std::string& customer,
                  const std::string& channel = "webhook") {
  v1::Task t;
  t.set_task_id(id);
  t.set_customer_id(customer);
  t.set_journey("j");
  t.set_version(1);
  t.set_step("s");
  t.set_channel(channel);
  t.set_params_json("{}");
  t.set_entry_event_json("{}");
  return t;
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = kafka::EmbeddedBroker::Start({"127.0.0.1:0", 2, {"dt.events"}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    auto store = state::StateStore::Open({.dir = dir_.Sub("db")});
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }

  LaneOptions Lane(const std::string& name, Script* script) {
    LaneOptions l;
    l.connector = name;
    l.type = "scripted";
    l.concurrency = 2;
    l.initial_backoff_ms = 20;
    l.max_backoff_ms = 200;
    l.max_attempts = 4;
    l.make = [script]() -> Result<std::unique_ptr<Connector>> {
      return std::unique_ptr<Connector>(new ScriptedConnector(script));
    };
    return l;
  }

  void Start(std::vector<LaneOptions> lanes, std::map<std::string, std::string> channels) {
    DispatcherOptions o;
    o.lanes = std::move(lanes);
    o.channels = std::move(channels);
    o.events_topic = "dt.events";
    o.producer = {broker_->address(), {}, {}};
    o.sync = false;
    auto d = Dispatcher::Create(std::move(o), store_.get(), &SystemClock::Instance());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    d_ = std::move(d).value();
    ASSERT_TRUE(d_->Assign(0).ok());
  }

  void PutCustomer(const std::string& id, const nlohmann::json& traits) {
    v1::CustomerState c;
    c.set_id(id);
    c.set_traits_json(traits.dump());
    auto b = store_->NewBatch();
    b.PutCustomer(0, c);
    ASSERT_TRUE(store_->Write(b).ok());
  }

  // As the engine does: stage in a batch, write it, then submit.
  void Decide(const std::vector<v1::Task>& tasks, bool submit = true) {
    auto b = store_->NewBatch();
    for (const auto& t : tasks) d_->Stage(b, 0, t);
    d_->Seal();
    ASSERT_TRUE(store_->Write(b).ok());
    if (submit) d_->Submit();
  }

  v1::LedgerEntry::State StateOf(const std::string& id) {
    auto e = d_->Ledger(id);
    return e ? e->state() : static_cast<v1::LedgerEntry::State>(-1);
  }
  bool Ends(const std::string& id, v1::LedgerEntry::State s) {
    return testing::WaitFor([&] { return StateOf(id) == s; }, milliseconds(10000));
  }
  size_t QueueRows() {
    size_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(
        store_->db()->NewIterator(rocksdb::ReadOptions(), store_->dispatch_cf()));
    for (it->Seek("q"); it->Valid() && it->key().starts_with("q"); it->Next()) ++n;
    return n;
  }
  // Outcome events on the events topic, by name.
  std::map<std::string, int> ReadOutcomes(size_t expect) {
    NoRebalance listener;
    auto c = kafka::Consumer::Create({broker_->address(), "dt-reader", {"dt.events"}, "", {}},
                                     &listener);
    EXPECT_TRUE(c.ok());
    std::map<std::string, int> out;
    size_t n = 0;
    const auto deadline = Clock_::now() + std::chrono::seconds(15);
    while (n < expect && Clock_::now() < deadline) {
      auto msg = (*c)->Poll(100);
      if (!msg || msg->err) continue;
      auto j = nlohmann::json::parse(static_cast<const char*>(msg->payload),
                                     static_cast<const char*>(msg->payload) + msg->len);
      out[j["event"].get<std::string>()]++;
      EXPECT_EQ(j["messageId"].get<std::string>().rfind(j["properties"]["task_id"], 0), 0u);
      ++n;
    }
    (*c)->Close();
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<Dispatcher> d_;
};

TEST_F(DispatcherTest, SendsRecordsAndPublishesTheOutcome) {
  Script s;
  Start({Lane("hook", &s)}, {{"webhook", "hook"}});
  Decide({MakeTask("t1", "c1"), MakeTask("t2", "c2")});
  ASSERT_TRUE(Ends("t1", v1::LedgerEntry::SENT));
  ASSERT_TRUE(Ends("t2", v1::LedgerEntry::SENT));
  auto e = *d_->Ledger("t1");
  ASSERT_EQ(e.attempts_size(), 1);
  EXPECT_EQ(e.attempts(0).result(), "accepted");
  EXPECT_EQ(e.attempts(0).connector(), "hook");
  EXPECT_EQ(e.provider_id(), "p-t1");
  EXPECT_TRUE(testing::WaitFor([&] { return QueueRows() == 0; }, milliseconds(5000)));
  EXPECT_EQ(s.calls(), 2u);
  EXPECT_EQ(nlohmann::json::parse(s.sent[0].task_json)["task_id"], s.sent[0].task_id);
  auto outcomes = ReadOutcomes(2);
  EXPECT_EQ(outcomes["Message Sent"], 2);
}

TEST_F(DispatcherTest, RetriesWithBackoffHonouringRetryAfterThenSucceeds) {
  Script s;
  SendResult busy = SendResult::Failed(SendOutcome::kRetryable, 429, "slow down");
  busy.retry_after_ms = 300;
  s.answers = {busy, SendResult::Failed(SendOutcome::kUnknown, 0, "timeout")};
  Start({Lane("hook", &s)}, {{"webhook", "hook"}});
  Decide({MakeTask("t1", "c1")});
  ASSERT_TRUE(Ends("t1", v1::LedgerEntry::SENT));
  ASSERT_EQ(s.calls(), 3u);
  EXPECT_GE(s.at[1] - s.at[0], milliseconds(295)) << "Retry-After is a floor";
  for (const auto& m : s.sent) EXPECT_EQ(m.task_id, "t1");  // the same idempotency key
  EXPECT_EQ(s.sent[2].attempt, 3);
  auto e = *d_->Ledger("t1");
  ASSERT_EQ(e.attempts_size(), 3);
  EXPECT_EQ(e.attempts(0).result(), "retryable");
  EXPECT_EQ(e.attempts(0).code(), 429);
  EXPECT_EQ(e.attempts(1).result(), "unknown");
  EXPECT_EQ(d_->metrics().lanes[0].retries, 2u);
}

TEST_F(DispatcherTest, PermanentFailuresBouncesAndGivingUp) {
  Script s;
  SendResult bounce = SendResult::Failed(SendOutcome::kPermanent, 550, "no such user");
  bounce.recipient_rejected = true;
  s.answers = {SendResult::Failed(SendOutcome::kPermanent, 400, "bad request")};
  Start({Lane("hook", &s)}, {{"webhook", "hook"}});
  Decide({MakeTask("t1", "c1")});
  ASSERT_TRUE(Ends("t1", v1::LedgerEntry::FAILED));
  EXPECT_EQ(d_->Ledger("t1")->reason(), "bad request");
  {
    std::lock_guard lock(s.mu);
    s.answers = {bounce};
  }
  Decide({MakeTask("t2", "c1")});
  ASSERT_TRUE(Ends("t2", v1::LedgerEntry::BOUNCED));
  {
    std::lock_guard lock(s.mu);
    for (int i = 0; i < 4; ++i)
      s.answers.push_back(SendResult::Failed(SendOutcome::kUnknown, 0, "timed out"));
  }
  Decide({MakeTask("t3", "c1")});
  ASSERT_TRUE(Ends("t3", v1::LedgerEntry::UNKNOWN)) << "never counted as failed silently";
  auto e = *d_->Ledger("t3");
  EXPECT_EQ(e.attempts_size(), 4);
  EXPECT_NE(e.reason().find("gave up after 4 attempts"), std::string::npos) << e.reason();
  auto outcomes = ReadOutcomes(3);
  EXPECT_EQ(outcomes["Message Failed"], 2);
  EXPECT_EQ(outcomes["Message Bounced"], 1);
  // cairn_sends_total{channel,result}: kEndResults order.
  const auto lane = d_->metrics().lanes[0];
  ASSERT_EQ(lane.ended_by_channel.size(), 1u);
  const auto& by = lane.ended_by_channel.begin()->second;
  EXPECT_EQ(lane.ended_by_channel.begin()->first, "webhook");
  EXPECT_EQ(by, (std::array<uint64_t, 5>{0, 1, 1, 0, 1}));
}

TEST_F(DispatcherTest, ConsentAndAddressAreCheckedAtSendTime) {
  Script s;
  Start({Lane("sms", &s)}, {{"sms", "sms"}});
  PutCustomer("opted-out", {{"phone", "+4915100000001"}, {"consent", {{"sms", false}}}});
  PutCustomer("no-phone", {{"email", "x@example.com"}});
  PutCustomer("ok", {{"phone", "+4915100000002"}, {"consent", {{"sms", true}, {"email", false}}}});
  PutCustomer("implicit", {{"phone", "+4915100000003"}});
  auto explicit_task = MakeTask("t4", "implicit", "sms");
  explicit_task.set_consent("explicit");
  Decide({MakeTask("t1", "opted-out", "sms"), MakeTask("t2", "no-phone", "sms"),
          MakeTask("t3", "ok", "sms"), explicit_task});
  ASSERT_TRUE(Ends("t1", v1::LedgerEntry::SUPPRESSED));
  ASSERT_TRUE(Ends("t2", v1::LedgerEntry::SUPPRESSED));
  ASSERT_TRUE(Ends("t3", v1::LedgerEntry::SENT));
  ASSERT_TRUE(Ends("t4", v1::LedgerEntry::SUPPRESSED));
  EXPECT_NE(d_->Ledger("t2")->reason().find("traits.phone"), std::string::npos);
  ASSERT_EQ(s.calls(), 1u);
  EXPECT_EQ(s.sent[0].to, std::vector<std::string>{"+4915100000002"});
}

TEST_F(DispatcherTest, ARestartSendsWhatWasDecidedAndNeverWhatEnded) {
  Script s;
  Start({Lane("hook", &s)}, {{"webhook", "hook"}});
  // Durable but never submitted: the process died right after the write.
  s.hold = true;
  Decide({MakeTask("t1", "c1"), MakeTask("t2", "c2")}, /*submit=*/false);
  d_->Stop();
  d_.reset();
  // t2 had ended before the crash (ledger written, row not yet deleted).
  v1::LedgerEntry ended;
  ended.set_task_id("t2");
  ended.set_state(v1::LedgerEntry::SENT);
  ASSERT_TRUE(store_->db()
                  ->Put(rocksdb::WriteOptions(), store_->dispatch_cf(), Dispatcher::LedgerKey("t2"),
                        ended.SerializeAsString())
                  .ok());
  s.hold = false;
  Start({Lane("hook", &s)}, {{"webhook", "hook"}});
  ASSERT_TRUE(Ends("t1", v1::LedgerEntry::SENT));
  EXPECT_TRUE(testing::WaitFor([&] { return QueueRows() == 0; }, milliseconds(5000)));
  ASSERT_EQ(s.calls(), 1u);
  EXPECT_EQ(s.sent[0].task_id, "t1");
  EXPECT_EQ(d_->metrics().skipped_ended, 1u);
  // New decisions after the restart do not reuse queue rows.
  Decide({MakeTask("t3", "c3")});
  ASSERT_TRUE(Ends("t3", v1::LedgerEntry::SENT));
}

TEST_F(DispatcherTest, AFullLaneSpillsToRocksDbAndASlowLaneBlocksNoOther) {
  Script slow, fast;
  slow.hold = true;
  auto slow_lane = Lane("slow", &slow);
  slow_lane.queue_limit = 3;
  slow_lane.concurrency = 1;
  Start({slow_lane, Lane("fast", &fast)}, {{"sms", "slow"}, {"webhook", "fast"}});
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 20; ++i) {
    PutCustomer("c" + std::to_string(i), {{"phone", "+49151000000" + std::to_string(10 + i)}});
    tasks.push_back(MakeTask("slow-" + std::to_string(i), "c" + std::to_string(i), "sms"));
    tasks.push_back(MakeTask("fast-" + std::to_string(i), "c" + std::to_string(i)));
  }
  Decide(tasks);
  // The fast lane finishes while the slow provider holds every send.
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(Ends("fast-" + std::to_string(i), v1::LedgerEntry::SENT));
  auto m = d_->metrics();
  EXPECT_LE(m.lanes[0].queued + m.lanes[0].in_flight, 4u) << "bounded by queue_limit";
  EXPECT_GE(m.spilled_partitions, 1u) << "backpressure is visible";
  slow.Release();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(Ends("slow-" + std::to_string(i), v1::LedgerEntry::SENT));
  EXPECT_EQ(slow.calls(), 20u) << "each task once";
  EXPECT_TRUE(testing::WaitFor([&] { return QueueRows() == 0; }, milliseconds(5000)));
  EXPECT_TRUE(
      testing::WaitFor([&] { return d_->metrics().spilled_partitions == 0; }, milliseconds(5000)));
}

TEST_F(DispatcherTest, TheTokenBucketPacesSends) {
  Script s;
  auto lane = Lane("hook", &s);
  lane.rate_per_s = 50;
  lane.burst = 1;
  Start({lane}, {{"webhook", "hook"}});
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 21; ++i) tasks.push_back(MakeTask("t" + std::to_string(i), "c"));
  Decide(tasks);
  for (const auto& t : tasks) ASSERT_TRUE(Ends(t.task_id(), v1::LedgerEntry::SENT));
  std::lock_guard lock(s.mu);
  auto [lo, hi] = std::minmax_element(s.at.begin(), s.at.end());
  EXPECT_GE(*hi - *lo, milliseconds(360)) << "20 intervals at 50/s";
}

}  // namespace
}  // namespace cairn::dispatch
