#include "cairn/murmur2.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <random>
#include <string>

namespace cairn {
namespace {

// Values from the Java client's UtilsTest.testMurmur2.
TEST(Murmur2, MatchesJavaClient) {
  EXPECT_EQ(static_cast<int32_t>(Murmur2("21")), -973932308);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("foobar")), -790332482);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(static_cast<int32_t>(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")),
            -58897971);
  EXPECT_EQ(static_cast<int32_t>(Murmur2(std::string("abc"))), 479470107);
}

// librdkafka's murmur2 partitioner is what producers configured with
// partitioner=murmur2_random use; Cairn must agree with it on every key.
TEST(Murmur2, AgreesWithLibrdkafkaPartitioner) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> len(1, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 5000; ++i) {
    std::string key(static_cast<size_t>(len(rng)), '\0');
    for (char& c : key) c = static_cast<char>(byte(rng));
    for (int32_t partitions : {1, 3, 16, 64}) {
      const int32_t expected = rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(),
                                                                partitions, nullptr, nullptr);
      ASSERT_EQ(PartitionForKey(key, partitions), expected) << "key #" << i;
    }
  }
}

}  // namespace
}  // namespace cairn
