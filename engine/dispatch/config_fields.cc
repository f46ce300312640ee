#include "dispatch/config_fields.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "cairn/files.h"

namespace cairn::dispatch {

struct YamlConfigFields::Impl {
  std::string file;
  YAML::Node node;
  std::set<std::string> read;
};

namespace {

std::string Where(const std::string& file, const YAML::Mark& m) {
  if (m.line < 0) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

}  // namespace

int64_t ParseDurationMs(std::string_view text) {
  if (text.empty()) return -1;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n < 0) return -1;
  const std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  if (unit.empty() || unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  if (unit == "d") return n * 86'400'000;
  return -1;
}

YamlConfigFields::YamlConfigFields(std::string file, const YAML::Node& node, std::string path)
    : impl_(std::make_unique<Impl>()), path_(std::move(path)) {
  impl_->file = std::move(file);
  impl_->node = node;
}

YamlConfigFields::~YamlConfigFields() = default;

Result<std::unique_ptr<YamlConfigFields>> YamlConfigFields::FromText(const std::string& text,
                                                                     const std::string& file,
                                                                     const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& ex) {
    return InvalidArgument(Where(file, ex.mark) + ": " + ex.msg);
  }
  if (!root.IsNull() && !root.IsMap()) {
    return InvalidArgument(Where(file, root.Mark()) + ": " + path + " must be a mapping");
  }
  return std::make_unique<YamlConfigFields>(file, root, path);
}

bool YamlConfigFields::Has(std::string_view key) const {
  return impl_->node.IsMap() && impl_->node[std::string(key)].IsDefined();
}

Status YamlConfigFields::Invalid(std::string_view key, std::string_view message) const {
  YAML::Mark mark = impl_->node.Mark();
  if (impl_->node.IsMap()) {
    for (const auto& kv : impl_->node) {
      if (kv.first.as<std::string>() == key) {
        mark = kv.second.Mark();
        break;
      }
    }
  }
  return InvalidArgument(Where(impl_->file, mark) + ": " + path_ + "." + std::string(key) + ": " +
                         std::string(message));
}

Status YamlConfigFields::CheckAllRead() const {
  if (!impl_->node.IsMap()) return Status::Ok();
  for (const auto& kv : impl_->node) {
    const auto key = kv.first.as<std::string>();
    if (impl_->read.count(key) == 0) {
      return InvalidArgument(Where(impl_->file, kv.first.Mark()) + ": unknown key '" + path_ + "." +
                             key + "'");
    }
  }
  return Status::Ok();
}

namespace {

// The scalar under `key`, or nullopt when absent/null.
std::optional<std::string> Scalar(const YAML::Node& node, std::string_view key, bool* not_scalar) {
  *not_scalar = false;
  if (!node.IsMap()) return std::nullopt;
  const YAML::Node v = node[std::string(key)];
  if (!v.IsDefined() || v.IsNull()) return std::nullopt;
  if (!v.IsScalar()) {
    *not_scalar = true;
    return std::nullopt;
  }
  return v.Scalar();
}

}  // namespace

Result<std::string> YamlConfigFields::String(std::string_view key,
                                             std::optional<std::string> fallback) {
  impl_->read.insert(std::string(key));
  bool bad = false;
  auto v = Scalar(impl_->node, key, &bad);
  if (bad) return Invalid(key, "must be a string");
  if (v) return *v;
  if (fallback) return *fallback;
  return Invalid(key, "is required");
}

Result<int64_t> YamlConfigFields::Int(std::string_view key, int64_t fallback, int64_t min,
                                      int64_t max) {
  impl_->read.insert(std::string(key));
  bool bad = false;
  auto v = Scalar(impl_->node, key, &bad);
  if (bad) return Invalid(key, "must be an integer");
  if (!v) return fallback;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || ptr != v->data() + v->size()) {
    return Invalid(key, "must be an integer, not '" + *v + "'");
  }
  if (n < min || n > max) {
    return Invalid(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return n;
}

Result<double> YamlConfigFields::Number(std::string_view key, double fallback, double min,
                                        double max) {
  impl_->read.insert(std::string(key));
  bool bad = false;
  auto v = Scalar(impl_->node, key, &bad);
  if (bad) return Invalid(key, "must be a number");
  if (!v) return fallback;
  double d = 0;
  try {
    d = impl_->node[std::string(key)].as<double>();
  } catch (const YAML::Exception&) {
    return Invalid(key, "must be a number, not '" + *v + "'");
  }
  if (d < min || d > max) {
    std::ostringstream os;
    os << "must be between " << min << " and " << max;
    return Invalid(key, os.str());
  }
  return d;
}

Result<bool> YamlConfigFields::Bool(std::string_view key, bool fallback) {
  impl_->read.insert(std::string(key));
  bool bad = false;
  auto v = Scalar(impl_->node, key, &bad);
  if (bad) return Invalid(key, "must be true or false");
  if (!v) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return Invalid(key, "must be true or false, not '" + *v + "'");
}

Result<int64_t> YamlConfigFields::DurationMs(std::string_view key, int64_t fallback) {
  impl_->read.insert(std::string(key));
  bool bad = false;
  auto v = Scalar(impl_->node, key, &bad);
  if (bad) return Invalid(key, "must be a duration such as 30s");
  if (!v) return fallback;
  const int64_t ms = ParseDurationMs(*v);
  if (ms < 0)
    return Invalid(key, "must be a duration such as 250ms, 30s, 5m, 2h, not '" + *v + "'");
  return ms;
}

Result<std::map<std::string, std::string>> YamlConfigFields::StringMap(std::string_view key) {
  impl_->read.insert(std::string(key));
  std::map<std::string, std::string> out;
  if (!impl_->node.IsMap()) return out;
  const YAML::Node v = impl_->node[std::string(key)];
  if (!v.IsDefined() || v.IsNull()) return out;
  if (!v.IsMap()) return Invalid(key, "must be a mapping of strings");
  for (const auto& kv : v) {
    if (!kv.second.IsScalar()) return Invalid(key, "values must be strings");
    out[kv.first.as<std::string>()] = kv.second.Scalar();
  }
  return out;
}

Result<std::string> YamlConfigFields::Secret(std::string_view key, bool required) {
  auto file = String(key, required ? std::nullopt : std::optional<std::string>(""));
  if (!file.ok()) return file.status();
  if (file.value().empty()) return std::string();
  auto s = ReadTrimmedFile(file.value());
  if (!s) return Invalid(key, "cannot read the secret file '" + file.value() + "'");
  if (s->empty()) return Invalid(key, "the secret file '" + file.value() + "' is empty");
  return *s;
}

}  // namespace cairn::dispatch
