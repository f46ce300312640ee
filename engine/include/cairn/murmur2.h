// The Java client's murmur2 partitioner, so that Cairn's own produced events
// (and its customer look-ups) land on the partition where Java, KafkaJS and
// librdkafka's `murmur2_random` producers put the same key.
#pragma once

#include <cstdint>
#include <string_view>

namespace cairn {

// Kafka's murmur2 hash of `key` (seed 0x9747b28c), as in
// org.apache.kafka.common.utils.Utils.murmur2.
uint32_t Murmur2(std::string_view key);

// The partition Java's DefaultPartitioner picks for a non-empty key:
// (murmur2(key) & 0x7fffffff) % partition_count.
int32_t PartitionForKey(std::string_view key, int32_t partition_count);

}  // namespace cairn
