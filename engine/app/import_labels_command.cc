#include "app/import_labels_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <vector>

#include "app/config.h"
#include "labels/label_file.h"
#include "labels/label_publisher.h"

namespace cairn::app {
namespace {

using Clock = std::chrono::steady_clock;

class Progress {
 public:
  Progress(std::ostream& err, bool terminal, int interval_ms, uint64_t total_bytes)
      : err_(err),
        terminal_(terminal),
        interval_(std::chrono::milliseconds(terminal ? std::min(interval_ms, 200) : interval_ms)),
        total_(total_bytes),
        start_(Clock::now()),
        last_(start_) {}

  void Update(uint64_t rows, uint64_t bytes) {
    const auto now = Clock::now();
    if (now - last_ < interval_) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(rows) / secs : 0;
    const double pct =
        total_ > 0 ? 100.0 * static_cast<double>(bytes) / static_cast<double>(total_) : 0;
    if (terminal_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(pct / 100 * kWidth);
      err_ << fmt::format("\r[{}{}] {:5.1f}% {} rows {:.0f} rows/s ", std::string(filled, '#'),
                          std::string(kWidth - filled, ' '), pct, rows, rate)
           << std::flush;
      drawn_ = true;
    } else {
      err_ << fmt::format("import labels: {:.1f}% of bytes, {} rows, {:.0f} rows/s\n", pct, rows,
                          rate)
           << std::flush;
    }
  }

  void Done() {
    if (drawn_) err_ << "\r" << std::string(72, ' ') << "\r" << std::flush;
  }

 private:
  std::ostream& err_;
  bool terminal_;
  Clock::duration interval_;
  uint64_t total_;
  Clock::time_point start_, last_;
  bool drawn_ = false;
};

}  // namespace

int ImportLabelsCommand(const ImportLabelsOptions& options, std::ostream& out, std::ostream& err) {
  Config config;
  if (!options.config_file.empty()) {
    if (auto s = LoadConfigFile(options.config_file, config); !s.ok()) {
      err << "cairn import labels: " << s.message() << "\n";
      return 2;
    }
  }
  std::string brokers = options.brokers;
  if (brokers.empty()) brokers = config.engine.brokers;
  if (brokers.empty()) brokers = config.embedded_kafka;  // `cairn run`/`cairn broker` default
  const std::string topic = options.topic.empty() ? config.engine.topics.events : options.topic;

  Result<labels::FileFormat> format = labels::FormatFromName(options.file);
  if (options.format == "csv") {
    format = labels::FileFormat::kCsv;
  } else if (options.format == "jsonl") {
    format = labels::FileFormat::kJsonLines;
  } else if (!options.format.empty()) {
    err << "cairn import labels: --format must be csv or jsonl\n";
    return 2;
  }
  if (!format.ok()) {
    err << "cairn import labels: " << format.status().message() << "\n";
    return 2;
  }
  auto reader = labels::LabelFileReader::Open(options.file, *format);
  if (!reader.ok()) {
    err << "cairn import labels: " << reader.status().message() << "\n";
    return 2;
  }
  auto publisher = labels::LabelPublisher::Create(brokers, topic, &SystemClock::Instance());
  if (!publisher.ok()) {
    err << "cairn import labels: " << publisher.status().ToString() << "\n";
    return 2;
  }

  uint64_t rows = 0, good = 0, events = 0;
  std::map<std::string, uint64_t> rejected;
  std::vector<std::string> listed;
  Status produce_error;
  Progress progress(err, options.terminal, options.progress_interval_ms, (*reader)->size_bytes());
  labels::RowCombiner combiner;
  auto emit = [&](const std::optional<labels::LabelRow>& event) {
    if (!event || !produce_error.ok()) return;
    produce_error = (*publisher)->Enqueue(*event, "import");
    if (produce_error.ok()) ++events;
  };
  labels::FileRow item;
  while (produce_error.ok() && (*reader)->Next(&item)) {
    ++rows;
    if (auto* bad = std::get_if<labels::Rejection>(&item.row)) {
      ++rejected[bad->reason];
      if (listed.size() < options.max_listed_rejections) {
        listed.push_back(
            fmt::format("{}:{}: {}: {}", options.file, item.line, bad->reason, bad->message));
      }
    } else {
      ++good;
      emit(combiner.Add(std::get<labels::LabelRow>(std::move(item.row))));
    }
    progress.Update(rows, (*reader)->bytes_read());
  }
  emit(combiner.Finish());
  progress.Done();
  // Every event acknowledged before we say anything is done.
  Status flushed = (*publisher)->Flush(options.flush_timeout_ms);

  uint64_t rejected_total = 0;
  for (const auto& [reason, n] : rejected) rejected_total += n;
  out << fmt::format(
      "{}: {} rows read, {} good, {} rejected; {} events produced to {}, {} acknowledged\n",
      options.file, rows, good, rejected_total, events, topic, (*publisher)->delivered());
  for (const auto& [reason, n] : rejected) out << fmt::format("  rejected {}: {}\n", reason, n);
  for (const auto& line : listed) out << line << "\n";
  if (rejected_total > listed.size()) {
    out << fmt::format("  ... and {} more rejected rows\n", rejected_total - listed.size());
  }
  if (!produce_error.ok() || !flushed.ok()) {
    err << "cairn import labels: delivery failed: "
        << (!produce_error.ok() ? produce_error : flushed).ToString()
        << " (the import is idempotent: run it again)\n";
    return 3;
  }
  return rejected_total == 0 ? 0 : 1;
}

}  // namespace cairn::app
