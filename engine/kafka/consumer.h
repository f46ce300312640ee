// A consumer-group member behind RAII, with manual offset control.
//
// enable.auto.commit and enable.auto.offset.store are off: the owner decides
// where each assigned partition starts (RebalanceListener::OnAssign) and when
// offsets are committed (Commit, after its own durable write). One thread
// owns a Consumer: Poll, Commit, Close and the listener callbacks all run on
// it (librdkafka serves rebalances from inside Poll).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "kafka/handles.h"

namespace cairn::kafka {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  // Next offset to read. kOffsetCommitted = the group's committed offset
  // (auto.offset.reset=earliest when none).
  int64_t offset = kOffsetCommitted;
  static constexpr int64_t kOffsetCommitted = RD_KAFKA_OFFSET_INVALID;
};

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Partitions are about to be taken away: make durable what was consumed
  // from them. Runs inside Consumer::Poll or Consumer::Close.
  virtual void OnRevoke(const std::vector<TopicPartition>& partitions) = 0;
  // Partitions are being given: set each one's `offset` to where to resume.
  virtual void OnAssign(std::vector<TopicPartition>& partitions) = 0;
};

struct ConsumerOptions {
  std::string brokers;
  std::string group_id = "cairn";
  std::vector<std::string> topics;
  // Static membership (group.instance.id): a pod name in a StatefulSet keeps
  // its partitions across restarts without a rebalance. Empty = dynamic.
  std::string instance_id;
  KafkaProperties extra;  // any librdkafka consumer property, applied last
};

class Consumer {
 public:
  // Joins the group and subscribes. `listener` must outlive the Consumer.
  static Result<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options,
                                                  RebalanceListener* listener);
  ~Consumer();  // closes if Close() was not called
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Returns the next message or nullptr after `timeout_ms`. A message may
  // carry an error (message->err != 0) that the caller logs and skips.
  MessageHandle Poll(int timeout_ms);

  // Appends up to `max` messages to `out`: waits up to `timeout_ms` for the
  // first, then takes only what has already arrived. Much cheaper per message
  // than Poll. Rebalance callbacks run inside, as with Poll, so a returned
  // message may belong to a partition revoked meanwhile; the caller checks.
  // Returns how many were appended.
  size_t PollBatch(int timeout_ms, size_t max, std::vector<MessageHandle>& out);

  // Commits `offsets` (next offset to read, per partition) to the group.
  Status Commit(const std::vector<TopicPartition>& offsets, bool async);

  // Low and high watermark of a partition, asking the broker.
  Result<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic, int32_t partition,
                                                 int timeout_ms);

  // Partitions assigned right now.
  std::vector<TopicPartition> Assignment();

  // Leaves the group; OnRevoke runs for what is assigned. Idempotent.
  void Close();

  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  Consumer() = default;
  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* parts, void* opaque);
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);

  KafkaHandle rk_;
  QueueHandle queue_;  // the consumer queue; released before rk_
  std::vector<rd_kafka_message_t*> scratch_;
  RebalanceListener* listener_ = nullptr;
  bool closed_ = false;
};

// The list type librdkafka wants, from ours.
PartitionListHandle ToPartitionList(const std::vector<TopicPartition>& parts);
std::vector<TopicPartition> FromPartitionList(const rd_kafka_topic_partition_list_t* list);

}  // namespace cairn::kafka
