#include "app/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace cairn::app {
namespace {

void Append(std::string_view s, spdlog::memory_buf_t& out) {
  out.append(s.data(), s.data() + s.size());
}

// Appends `in` to `out` as the inside of a JSON string.
void AppendJsonEscaped(std::string_view in, spdlog::memory_buf_t& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        Append("\\\"", out);
        break;
      case '\\':
        Append("\\\\", out);
        break;
      case '\n':
        Append("\\n", out);
        break;
      case '\r':
        Append("\\r", out);
        break;
      case '\t':
        Append("\\t", out);
        break;
      default:
        if (c < 0x20) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
          Append(std::string_view(esc, sizeof esc), out);
        } else {
          out.push_back(ch);
        }
    }
  }
}

// %* : the message, JSON-escaped.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    AppendJsonEscaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

// %& : the logger name, JSON-escaped; "cairn" for the default logger.
class JsonLogger final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view name(msg.logger_name.data(), msg.logger_name.size());
    AppendJsonEscaped(name.empty() ? std::string_view("cairn") : name, dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonLogger>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> JsonLogFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessage>('*').add_flag<JsonLogger>('&').set_pattern(
      R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%&","msg":"%*"})");
  return formatter;
}

void ConfigureLogging(const std::string& level, bool json) {
  spdlog::set_level(spdlog::level::from_str(level));
  if (json) spdlog::set_formatter(JsonLogFormatter());
}

}  // namespace cairn::app
