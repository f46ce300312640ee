// ConfigFields over a YAML mapping (yaml-cpp), with file:line:col in every
// error. The engine config hands each `connectors.<name>` section to the
// dispatcher and the connector factories through this.
#pragma once

#include <memory>
#include <string>

#include "cairn/connector.h"

namespace YAML {
class Node;
}

namespace cairn::dispatch {

class YamlConfigFields : public ConfigFields {
 public:
  // `file` names the source in errors; `path` is the dotted name of `node`
  // ("connectors.mail").
  YamlConfigFields(std::string file, const YAML::Node& node, std::string path);
  ~YamlConfigFields() override;

  // Parses `text` and takes its root mapping (tests, `cairn validate`).
  static Result<std::unique_ptr<YamlConfigFields>> FromText(const std::string& text,
                                                            const std::string& file,
                                                            const std::string& path);

  Result<std::string> String(std::string_view key, std::optional<std::string> fallback) override;
  using ConfigFields::String;
  Result<int64_t> Int(std::string_view key, int64_t fallback, int64_t min, int64_t max) override;
  Result<double> Number(std::string_view key, double fallback, double min, double max) override;
  Result<bool> Bool(std::string_view key, bool fallback) override;
  Result<int64_t> DurationMs(std::string_view key, int64_t fallback) override;
  Result<std::map<std::string, std::string>> StringMap(std::string_view key) override;
  Result<std::string> Secret(std::string_view key, bool required) override;
  Status Invalid(std::string_view key, std::string_view message) const override;
  const std::string& path() const override { return path_; }

  // Fails on the first key no getter asked for.
  Status CheckAllRead() const;
  // Whether the section has `key` (does not mark it read).
  bool Has(std::string_view key) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// "90d", "2h", "30s", "250ms", or a bare integer (ms); -1 when malformed.
int64_t ParseDurationMs(std::string_view text);

}  // namespace cairn::dispatch
