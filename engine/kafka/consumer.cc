#include "kafka/consumer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace cairn::kafka {

PartitionListHandle ToPartitionList(const std::vector<TopicPartition>& parts) {
  PartitionListHandle list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
  for (const auto& p : parts) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  }
  return list;
}

std::vector<TopicPartition> FromPartitionList(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    out.push_back({e.topic, e.partition, e.offset});
  }
  return out;
}

Result<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options,
                                                   RebalanceListener* listener) {
  KafkaProperties props = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      // Large fetches: the engine processes in batches.
      {"fetch.wait.max.ms", "50"},
      {"queued.min.messages", "200000"},
      {"partition.assignment.strategy", "cooperative-sticky"},
  };
  if (!options.instance_id.empty()) props["group.instance.id"] = options.instance_id;
  for (const auto& [k, v] : options.extra) props[k] = v;

  auto conf = MakeConf(props);
  if (!conf.ok()) return conf.status();
  std::unique_ptr<Consumer> consumer(new Consumer());
  consumer->listener_ = listener;
  rd_kafka_conf_set_opaque(conf->get(), consumer.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), &Consumer::RebalanceCallback);

  char err[512];
  // rd_kafka_new takes ownership of the conf only on success.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof err);
  if (rk == nullptr) return InvalidArgument(std::string("kafka consumer: ") + err);
  (void)conf->release();
  consumer->rk_.reset(rk);
  rd_kafka_poll_set_consumer(rk);
  consumer->queue_.reset(rd_kafka_queue_get_consumer(rk));

  PartitionListHandle topics(
      rd_kafka_topic_partition_list_new(static_cast<int>(options.topics.size())));
  for (const auto& t : options.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  CAIRN_RETURN_IF_ERROR(KafkaError(rd_kafka_subscribe(rk, topics.get()), "subscribe"));
  return consumer;
}

Consumer::~Consumer() { Close(); }

void Consumer::Close() {
  if (closed_ || !rk_) return;
  closed_ = true;
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get());
  if (err) spdlog::warn("kafka consumer close: {}", rd_kafka_err2str(err));
}

MessageHandle Consumer::Poll(int timeout_ms) {
  return MessageHandle(rd_kafka_consumer_poll(rk_.get(), timeout_ms));
}

size_t Consumer::PollBatch(int timeout_ms, size_t max, std::vector<MessageHandle>& out) {
  if (max == 0) return 0;
  // rd_kafka_consume_batch_queue waits until the array is full or the timeout
  // passes, so wait for the first message alone, then drain without waiting.
  MessageHandle first = Poll(timeout_ms);
  if (!first) return 0;
  out.push_back(std::move(first));
  scratch_.resize(max - 1);
  const ssize_t n =
      max > 1 ? rd_kafka_consume_batch_queue(queue_.get(), 0, scratch_.data(), max - 1) : 0;
  for (ssize_t i = 0; i < n; ++i) out.emplace_back(scratch_[static_cast<size_t>(i)]);
  return 1 + static_cast<size_t>(std::max<ssize_t>(n, 0));
}

Status Consumer::Commit(const std::vector<TopicPartition>& offsets, bool async) {
  if (offsets.empty()) return Status::Ok();
  auto list = ToPartitionList(offsets);
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return Status::Ok();
  return KafkaError(err, "commit");
}

Result<std::pair<int64_t, int64_t>> Consumer::Watermarks(const std::string& topic,
                                                         int32_t partition, int timeout_ms) {
  int64_t low = 0;
  int64_t high = 0;
  CAIRN_RETURN_IF_ERROR(
      KafkaError(rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), partition, &low, &high,
                                                  timeout_ms),
                 "watermarks " + topic));
  return std::make_pair(low, high);
}

std::vector<TopicPartition> Consumer::Assignment() {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk_.get(), &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  PartitionListHandle owned(list);
  return FromPartitionList(list);
}

void Consumer::RebalanceCallback(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<Consumer*>(opaque)->OnRebalance(err, parts);
}

void Consumer::OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    std::vector<TopicPartition> assigned = FromPartitionList(parts);
    listener_->OnAssign(assigned);
    auto list = ToPartitionList(assigned);
    spdlog::info("kafka: assigned {} partition(s)", assigned.size());
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), list.get());
      if (e != nullptr) {
        spdlog::error("kafka incremental assign: {}", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_resp_err_t e = rd_kafka_assign(rk_.get(), list.get());
      if (e) spdlog::error("kafka assign: {}", rd_kafka_err2str(e));
    }
    return;
  }
  // Revoke (or an error: treat as losing everything named).
  std::vector<TopicPartition> revoked = FromPartitionList(parts);
  listener_->OnRevoke(revoked);
  spdlog::info("kafka: revoked {} partition(s)", revoked.size());
  if (cooperative) {
    rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), parts);
    if (e != nullptr) {
      spdlog::error("kafka incremental unassign: {}", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(rk_.get(), nullptr);
  }
}

}  // namespace cairn::kafka
