// The Kafka layer against the real embedded broker (librdkafka mock cluster)
// over loopback: produce, partitioning, consumer groups, resume offsets, and
// an outside client (kcat) reaching the fixed address.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "cairn/murmur2.h"
#include "kafka/consumer.h"
#include "kafka/embedded_broker.h"
#include "kafka/producer.h"
#include "test_support.h"

namespace cairn::kafka {
namespace {

struct Listener : RebalanceListener {
  std::map<int32_t, int64_t> start;  // offsets to hand out on assign
  std::vector<TopicPartition> assigned, revoked;
  void OnRevoke(const std::vector<TopicPartition>& p) override {
    revoked.insert(revoked.end(), p.begin(), p.end());
  }
  void OnAssign(std::vector<TopicPartition>& p) override {
    for (auto& tp : p) {
      if (auto it = start.find(tp.partition); it != start.end()) tp.offset = it->second;
    }
    assigned.insert(assigned.end(), p.begin(), p.end());
  }
};

// Consumers rejoin a mock-cluster group only after the old members' session
// times out, so tests use a short one.
ConsumerOptions Options(const std::string& address, const std::string& group) {
  return {address,
          group,
          {"events"},
          "",
          {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}}};
}

// Polls until `done` holds or `timeout` passes; hands every message to `on`.
bool PollUntil(Consumer& consumer, const std::function<void(const rd_kafka_message_t&)>& on,
               const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    auto m = consumer.Poll(100);
    if (m && !m->err) on(*m);
  }
  return true;
}

std::unique_ptr<EmbeddedBroker> StartBroker(int partitions = 8) {
  auto b = EmbeddedBroker::Start({"127.0.0.1:0", partitions, {"events"}});
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(b).value() : nullptr;
}

TEST(EmbeddedBrokerTest, RejectsBadAddress) {
  auto b = EmbeddedBroker::Start({"not-an-address", 1, {}});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("not-an-address"), std::string::npos);
}

TEST(EmbeddedBrokerTest, ProducedRecordsArePartitionedLikeJavaAndConsumedOnce) {
  auto broker = StartBroker(8);
  ASSERT_TRUE(broker);
  auto producer = Producer::Create({broker->address(), {}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  constexpr int kRecords = 2000;
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = "customer-" + std::to_string(i % 97);
    ASSERT_TRUE((*producer)->Produce("events", key, std::to_string(i), {{"h", "v"}}).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  EXPECT_EQ((*producer)->delivered(), static_cast<uint64_t>(kRecords));

  Listener listener;
  auto consumer = Consumer::Create(Options(broker->address(), "g1"), &listener);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  std::set<int> seen;
  int wrong_partition = 0;
  ASSERT_TRUE(PollUntil(
      **consumer,
      [&](const rd_kafka_message_t& m) {
        std::string key(static_cast<const char*>(m.key), m.key_len);
        if (m.partition != PartitionForKey(key, 8)) wrong_partition++;
        seen.insert(std::stoi(std::string(static_cast<const char*>(m.payload), m.len)));
      },
      [&] { return seen.size() == kRecords; }, std::chrono::seconds(30)));
  EXPECT_EQ(wrong_partition, 0);
  EXPECT_EQ(listener.assigned.size(), 8u);
  auto wm = (*consumer)->Watermarks("events", 0, 5000);
  ASSERT_TRUE(wm.ok());
  EXPECT_GT(wm->second, 0);
  (*consumer)->Close();
  EXPECT_EQ(listener.revoked.size(), 8u);
}

TEST(EmbeddedBrokerTest, AssignStartsWhereTheListenerSays) {
  auto broker = StartBroker(1);
  ASSERT_TRUE(broker);
  auto producer = Producer::Create({broker->address(), {}});
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE((*producer)->Produce("events", "k", std::to_string(i)).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  Listener listener;
  listener.start[0] = 60;
  auto consumer = Consumer::Create(Options(broker->address(), "g2"), &listener);
  ASSERT_TRUE(consumer.ok());
  std::vector<int> got;
  ASSERT_TRUE(PollUntil(
      **consumer,
      [&](const rd_kafka_message_t& m) {
        got.push_back(std::stoi(std::string(static_cast<const char*>(m.payload), m.len)));
      },
      [&] { return got.size() == 40; }, std::chrono::seconds(30)));
  EXPECT_EQ(got.front(), 60);
  EXPECT_EQ(got.back(), 99);
}

TEST(EmbeddedBrokerTest, CommittedOffsetIsUsedWhenListenerHasNone) {
  auto broker = StartBroker(1);
  ASSERT_TRUE(broker);
  auto producer = Producer::Create({broker->address(), {}});
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*producer)->Produce("events", "k", "v").ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  {
    Listener listener;
    auto consumer = Consumer::Create(Options(broker->address(), "g3"), &listener);
    ASSERT_TRUE(consumer.ok());
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          (*consumer)->Poll(100);
          return !listener.assigned.empty();
        },
        std::chrono::seconds(20)));
    ASSERT_TRUE((*consumer)->Commit({{"events", 0, 7}}, /*async=*/false).ok());
    (*consumer)->Close();
  }
  Listener listener;
  auto consumer = Consumer::Create(Options(broker->address(), "g3"), &listener);
  ASSERT_TRUE(consumer.ok());
  int64_t first = -1;
  ASSERT_TRUE(PollUntil(
      **consumer, [&](const rd_kafka_message_t& m) { first = m.offset; },
      [&] { return first >= 0; }, std::chrono::seconds(30)));
  EXPECT_EQ(first, 7);
}

TEST(EmbeddedBrokerTest, KcatReachesTheFixedAddress) {
  auto broker = StartBroker(4);
  ASSERT_TRUE(broker);
  testing::TempDir dir;
  const std::string cmd = "printf 'one\\ntwo\\nthree\\n' | kcat -P -b " + broker->address() +
                          " -t events -K: 2>&1 && kcat -C -b " + broker->address() +
                          " -t events -e -q -f '%s\\n' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ASSERT_EQ(pclose(p), 0) << out;
  EXPECT_NE(out.find("one"), std::string::npos) << out;
  EXPECT_NE(out.find("three"), std::string::npos) << out;
}

}  // namespace
}  // namespace cairn::kafka
