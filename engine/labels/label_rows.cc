#include "labels/label_rows.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "cairn/fnv1a.h"
#include "cairn/time.h"

namespace cairn::labels {
namespace {

using nlohmann::json;

// At most this much of a bad value is quoted back.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out =
      json(std::string(s.substr(0, kMax))).dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kMax) out += "...";
  return out;
}

// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Reads a string array member into `out`; false when it is not one.
bool ReadLabels(const json& j, std::set<std::string>* out, std::string* bad) {
  if (!j.is_array()) return false;
  for (const auto& e : j) {
    if (!e.is_string()) {
      *bad = e.dump();
      return false;
    }
    out->insert(e.get<std::string>());
  }
  return true;
}

}  // namespace

bool ValidLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                    c == ':' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::optional<Rejection> ValidateRow(const LabelRow& row) {
  if (row.customer_id.empty()) {
    return Rejection{std::string(kMissingId), "no customer id"};
  }
  if (row.customer_id.size() > kMaxCustomerIdLength) {
    return Rejection{std::string(kInvalidId),
                     fmt::format("customer id longer than {} bytes", kMaxCustomerIdLength)};
  }
  if (!ValidUtf8(row.customer_id)) {
    return Rejection{std::string(kInvalidId),
                     "customer id " + Quote(row.customer_id) + " is not valid UTF-8"};
  }
  for (unsigned char c : row.customer_id) {
    if (c < 0x20 || c == 0x7f) {
      return Rejection{std::string(kInvalidId),
                       "customer id " + Quote(row.customer_id) + " has a control character"};
    }
  }
  for (const auto* set : {&row.add, &row.remove}) {
    for (const auto& l : *set) {
      if (!ValidLabel(l)) {
        return Rejection{std::string(kInvalidLabel),
                         "label " + Quote(l) + " is not 1..64 characters of [a-z0-9_-:.]"};
      }
    }
  }
  if (row.add.empty() && row.remove.empty()) {
    return Rejection{std::string(kNoLabels), "no label to add or remove"};
  }
  if (row.add.size() + row.remove.size() > kMaxLabelsPerEvent) {
    return Rejection{std::string(kTooManyLabels),
                     fmt::format("more than {} labels in one row", kMaxLabelsPerEvent)};
  }
  for (const auto& l : row.add) {
    if (row.remove.count(l) != 0) {
      return Rejection{std::string(kLabelConflict),
                       "label " + Quote(l) + " is both added and removed"};
    }
  }
  return std::nullopt;
}

std::variant<LabelRow, Rejection> RowFromJson(const json& j) {
  if (!j.is_object()) return Rejection{std::string(kBadRow), "a row must be a JSON object"};
  LabelRow row;
  bool has_label = false, has_lists = false, has_id = false;
  for (const auto& [key, value] : j.items()) {
    if (key == "customer_id" || key == "user_id") {
      if (has_id) return Rejection{std::string(kBadRow), "both customer_id and user_id"};
      has_id = true;
      if (value.is_null()) continue;  // reported as missing_id below
      if (!value.is_string()) {
        return Rejection{std::string(kInvalidId), key + " must be a string"};
      }
      row.customer_id = value.get<std::string>();
    } else if (key == "label") {
      has_label = true;
      if (!value.is_string()) {
        return Rejection{std::string(kInvalidLabel), "label must be a string"};
      }
      row.add.insert(value.get<std::string>());
    } else if (key == "add" || key == "remove") {
      has_lists = true;
      std::string bad;
      if (!ReadLabels(value, key == "add" ? &row.add : &row.remove, &bad)) {
        return Rejection{std::string(kInvalidLabel), key + " must be an array of strings" +
                                                         (bad.empty() ? "" : ", not " + bad)};
      }
    } else {
      return Rejection{std::string(kBadRow), "unknown member " + Quote(key)};
    }
  }
  if (has_label && has_lists) {
    return Rejection{std::string(kBadRow), "use either label or add/remove, not both"};
  }
  if (auto r = ValidateRow(row)) return *r;
  return row;
}

std::variant<LabelRow, Rejection> RowFromJsonText(std::string_view text) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Rejection{std::string(kBadJson), "not valid JSON"};
  return RowFromJson(j);
}

std::string LabelMessageId(const LabelRow& row) {
  std::string key = row.customer_id;
  key += '\n';
  for (const auto& l : row.add) key += l + ",";
  key += '\n';
  for (const auto& l : row.remove) key += l + ",";
  return fmt::format("lbl-{:016x}", Fnv1a64(key));
}

std::string LabelEventJson(const LabelRow& row, std::string_view source, TimestampMs now) {
  json props = {{"add", json(row.add)}, {"remove", json(row.remove)}, {"source", source}};
  json event = {{"type", "track"},
                {"event", kEventName},
                {"userId", row.customer_id},
                {"messageId", LabelMessageId(row)},
                {"timestamp", FormatTimestamp(now)},
                {"properties", std::move(props)},
                // Cairn's own event: it does not tell that the id is a userId (engine/identity).
                {"context", {{"cairn", {{"source", "labels"}}}}}};
  return event.dump();
}

std::optional<LabelRow> RowCombiner::Add(LabelRow row) {
  if (current_ && current_->customer_id == row.customer_id) {
    std::set<std::string> add = current_->add, remove = current_->remove;
    for (const auto& l : row.add) {
      remove.erase(l);
      add.insert(l);
    }
    for (const auto& l : row.remove) {
      add.erase(l);
      remove.insert(l);
    }
    if (add.size() + remove.size() <= kMaxLabelsPerEvent) {
      current_->add = std::move(add);
      current_->remove = std::move(remove);
      return std::nullopt;
    }
  }
  std::optional<LabelRow> done = std::move(current_);
  current_ = std::move(row);
  return done;
}

std::optional<LabelRow> RowCombiner::Finish() {
  std::optional<LabelRow> done = std::move(current_);
  current_.reset();
  return done;
}

}  // namespace cairn::labels
