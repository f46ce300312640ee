#include "labels/label_publisher.h"

#include <utility>

namespace cairn::labels {
namespace {

kafka::OutRecord Record(const LabelRow& row, std::string_view source, TimestampMs now) {
  return {
      row.customer_id, LabelEventJson(row, source, now), {{"content-type", "application/json"}}};
}

}  // namespace

Result<std::unique_ptr<LabelPublisher>> LabelPublisher::Create(const std::string& brokers,
                                                               std::string topic,
                                                               const Clock* clock,
                                                               kafka::KafkaProperties extra) {
  auto events = kafka::EventPublisher::Create(brokers, std::move(topic), std::move(extra));
  if (!events.ok()) return events.status();
  auto p = std::make_unique<LabelPublisher>(events->get(), clock);
  p->owned_ = std::move(events).value();
  return p;
}

Status LabelPublisher::Enqueue(const LabelRow& row, std::string_view source) {
  auto r = Record(row, source, clock_->NowMs());
  return events_->Enqueue(r.key, r.value, r.headers);
}

Status LabelPublisher::Flush(int timeout_ms) { return events_->Flush(timeout_ms); }

Status LabelPublisher::Publish(const std::vector<LabelRow>& rows, std::string_view source,
                               int timeout_ms) {
  std::vector<kafka::OutRecord> records;
  records.reserve(rows.size());
  const TimestampMs now = clock_->NowMs();
  for (const auto& row : rows) records.push_back(Record(row, source, now));
  return events_->Publish(records, timeout_ms);
}

}  // namespace cairn::labels
