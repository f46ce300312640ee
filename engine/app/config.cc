#include "app/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace cairn::app {
namespace {

std::string Where(const std::string& name, const YAML::Mark& m) {
  return name + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// Walks a mapping, handing each known key to its setter; unknown keys fail.
class Section {
 public:
  Section(const std::string& file, const YAML::Node& node, std::string path)
      : file_(file), node_(node), path_(std::move(path)) {}

  using Setter = std::function<Status(const YAML::Node&, const std::string& where)>;
  Section& On(const std::string& key, Setter setter) {
    setters_[key] = std::move(setter);
    return *this;
  }

  Status Apply() const {
    if (!node_ || node_.IsNull()) return Status::Ok();
    if (!node_.IsMap()) {
      return InvalidArgument(Where(file_, node_.Mark()) + ": '" + path_ + "' must be a mapping");
    }
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      const std::string where = Where(file_, kv.first.Mark());
      auto it = setters_.find(key);
      if (it == setters_.end()) {
        return InvalidArgument(where + ": unknown key '" + Join(key) + "'");
      }
      CAIRN_RETURN_IF_ERROR(it->second(kv.second, Where(file_, kv.second.Mark())));
    }
    return Status::Ok();
  }

  std::string Join(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  YAML::Node node_;
  std::string path_;
  std::map<std::string, Setter> setters_;
};

template <typename T>
Section::Setter Into(T& target, const std::string& what) {
  return [&target, what](const YAML::Node& n, const std::string& where) -> Status {
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "not a scalar");
      target = n.as<T>();
      return Status::Ok();
    } catch (const YAML::Exception&) {
      return InvalidArgument(where + ": '" + what + "' has a value of the wrong type");
    }
  };
}

Section::Setter IntoList(std::vector<std::string>& target, const std::string& what) {
  return [&target, what](const YAML::Node& n, const std::string& where) -> Status {
    if (!n.IsSequence()) return InvalidArgument(where + ": '" + what + "' must be a list");
    target.clear();
    for (const auto& item : n) {
      if (!item.IsScalar()) return InvalidArgument(where + ": '" + what + "' items are strings");
      target.push_back(item.as<std::string>());
    }
    return Status::Ok();
  };
}

Section::Setter IntoProps(kafka::KafkaProperties& target, const std::string& what) {
  return [&target, what](const YAML::Node& n, const std::string& where) -> Status {
    if (!n.IsMap()) return InvalidArgument(where + ": '" + what + "' must be a mapping");
    for (const auto& kv : n) {
      if (!kv.second.IsScalar()) {
        return InvalidArgument(where + ": '" + what + "' values are scalars");
      }
      target[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
    return Status::Ok();
  };
}

// analytics.cost_per_message: {channel: number >= 0}
Section::Setter IntoCosts(std::map<std::string, double>& target, const std::string& what,
                          const std::string& file) {
  return [&target, what, file](const YAML::Node& n, const std::string& where) -> Status {
    if (!n.IsMap()) return InvalidArgument(where + ": '" + what + "' must be a mapping");
    target.clear();
    for (const auto& kv : n) {
      double v = -1;
      try {
        if (kv.second.IsScalar()) v = kv.second.as<double>();
      } catch (const YAML::Exception&) {
        v = -1;
      }
      if (!(v >= 0)) {
        return InvalidArgument(Where(file, kv.second.Mark()) + ": '" + what + "." +
                               kv.first.as<std::string>() + "' must be a number >= 0");
      }
      target[kv.first.as<std::string>()] = v;
    }
    return Status::Ok();
  };
}

// analytics.intervals: [{from: event, to: event}]
Section::Setter IntoPairs(std::vector<analytics::IntervalPair>& target, const std::string& what,
                          const std::string& file) {
  return [&target, what, file](const YAML::Node& n, const std::string& where) -> Status {
    if (!n.IsSequence()) return InvalidArgument(where + ": '" + what + "' must be a list");
    target.clear();
    for (const auto& item : n) {
      const auto from = item.IsMap() ? item["from"] : YAML::Node();
      const auto to = item.IsMap() ? item["to"] : YAML::Node();
      if (!item.IsMap() || item.size() != 2 || !from || !to || !from.IsScalar() || !to.IsScalar() ||
          from.Scalar().empty() || to.Scalar().empty()) {
        return InvalidArgument(Where(file, item.Mark()) + ": '" + what +
                               "' items are {from: <event>, to: <event>}");
      }
      target.push_back({from.Scalar(), to.Scalar()});
    }
    return Status::Ok();
  };
}

Status ApplyRoot(const std::string& name, const YAML::Node& root, Config& c) {
  auto& e = c.engine;
  auto sub = [&](const std::string& key, auto build) -> Section::Setter {
    return [&, key, build](const YAML::Node& n, const std::string&) -> Status {
      Section s(name, n, key);
      build(s);
      return s.Apply();
    };
  };
  Section root_section(name, root, "");
  root_section
      .On("kafka", sub("kafka",
                       [&](Section& s) {
                         s.On("brokers", Into(e.brokers, "kafka.brokers"))
                             .On("embedded", Into(c.embedded_kafka, "kafka.embedded"))
                             .On("embedded_partitions",
                                 Into(c.embedded_partitions, "kafka.embedded_partitions"))
                             .On("group_id", Into(e.group_id, "kafka.group_id"))
                             .On("instance_id", Into(e.instance_id, "kafka.instance_id"))
                             .On("consumer", IntoProps(e.consumer_properties, "kafka.consumer"))
                             .On("producer", IntoProps(e.producer_properties, "kafka.producer"));
                       }))
      .On("topics", sub("topics",
                        [&](Section& s) {
                          s.On("events", Into(e.topics.events, "topics.events"))
                              .On("dlq", Into(e.topics.dlq, "topics.dlq"))
                              .On("tasks", Into(e.topics.tasks, "topics.tasks"));
                        }))
      .On("storage", sub("storage",
                         [&](Section& s) {
                           s.On("data_dir", Into(c.store.dir, "storage.data_dir"))
                               .On("sync_writes", Into(c.store.sync_writes, "storage.sync_writes"))
                               .On("block_cache_bytes",
                                   Into(c.store.block_cache_bytes, "storage.block_cache_bytes"))
                               .On("cache_customers",
                                   Into(e.cache_capacity, "storage.cache_customers"))
                               .On("backup_dir", Into(c.backup_dir, "storage.backup_dir"));
                         }))
      .On("http", sub("http",
                      [&](Section& s) {
                        auto& h = c.http;
                        auto tls = [&](const std::string& key, api::TlsFiles& t) {
                          return sub(key, [&t, key](Section& ts) {
                            ts.On("cert_file", Into(t.cert_file, key + ".cert_file"))
                                .On("key_file", Into(t.key_file, key + ".key_file"));
                          });
                        };
                        s.On("listen", Into(h.admin_listen, "http.listen"))  // alias, older configs
                            .On("public_listen", Into(h.public_listen, "http.public_listen"))
                            .On("admin_listen", Into(h.admin_listen, "http.admin_listen"))
                            .On("admin_tokens_file",
                                Into(h.admin_tokens_file, "http.admin_tokens_file"))
                            .On("audit_log", Into(h.audit_log, "http.audit_log"))
                            .On("metrics_public", Into(h.metrics_public, "http.metrics_public"))
                            .On("tls", tls("http.tls", h.public_tls))
                            .On("admin_tls", tls("http.admin_tls", h.admin_tls));
                      }))
      .On("ingest", sub("ingest",
                        [&](Section& s) {
                          s.On("max_batch", Into(e.max_batch, "ingest.max_batch"))
                              .On("max_message_bytes",
                                  Into(e.parse.max_bytes, "ingest.max_message_bytes"))
                              .On("max_depth", Into(e.parse.max_depth, "ingest.max_depth"));
                        }))
      .On("state",
          sub("state",
              [&](Section& s) {
                s.On("summed_properties",
                     IntoList(e.state.summed_properties, "state.summed_properties"))
                    .On("dedup_window", Into(e.state.dedup_window, "state.dedup_window"))
                    .On("history_limit", Into(e.state.history_limit, "state.history_limit"))
                    .On("history_max_properties",
                        Into(e.state.history_max_properties, "state.history_max_properties"));
              }))
      .On("identity",
          sub("identity",
              [&](Section& s) {
                s.On("enabled", Into(e.identity.enabled, "identity.enabled"))
                    .On("identifiers", IntoList(e.identity.identifiers, "identity.identifiers"))
                    .On("merge_identified",
                        [&](const YAML::Node& n, const std::string& where) -> Status {
                          const std::string v = n.IsScalar() ? n.Scalar() : "";
                          if (v == "never") {
                            e.identity.merge_identified = identity::MergeIdentified::kNever;
                          } else if (v == "alias") {
                            e.identity.merge_identified = identity::MergeIdentified::kAlias;
                          } else if (v == "always") {
                            e.identity.merge_identified = identity::MergeIdentified::kAlways;
                          } else {
                            return InvalidArgument(
                                where +
                                ": identity.merge_identified must be never, alias or always");
                          }
                          return Status::Ok();
                        });
              }))
      .On("journeys", sub("journeys",
                          [&](Section& s) {
                            s.On("dir", Into(c.journeys_dir, "journeys.dir"))
                                .On("reload_ms", Into(c.journeys_reload_ms, "journeys.reload_ms"))
                                .On("clock_event_time",
                                    Into(e.event_time_clock, "journeys.clock_event_time"))
                                .On("trace_limit", Into(e.trace_limit, "journeys.trace_limit"))
                                .On("tasks_protobuf",
                                    Into(e.journeys.tasks_protobuf, "journeys.tasks_protobuf"))
                                .On("max_timers_per_batch",
                                    Into(e.max_timers_per_batch, "journeys.max_timers_per_batch"));
                          }))
      .On("channels",
          [&](const YAML::Node& n, const std::string& where) -> Status {
            if (!n.IsMap()) return InvalidArgument(where + ": 'channels' must be a mapping");
            for (const auto& kv : n) {
              if (!kv.second.IsScalar()) {
                return InvalidArgument(Where(name, kv.second.Mark()) + ": channels." +
                                       kv.first.as<std::string>() +
                                       " must name a connector instance");
              }
              c.channels[kv.first.as<std::string>()] = kv.second.Scalar();
            }
            return Status::Ok();
          })
      .On("connectors",
          [&](const YAML::Node& n, const std::string& where) -> Status {
            if (!n.IsMap()) return InvalidArgument(where + ": 'connectors' must be a mapping");
            c.connectors.clear();
            for (const auto& kv : n) {
              const auto key = kv.first.as<std::string>();
              if (!kv.second.IsMap()) {
                return InvalidArgument(Where(name, kv.second.Mark()) + ": connectors." + key +
                                       " must be a mapping");
              }
              c.connectors.emplace_back(key, std::make_shared<dispatch::YamlConfigFields>(
                                                 name, kv.second, "connectors." + key));
            }
            return Status::Ok();
          })
      .On("dispatch", sub("dispatch",
                          [&](Section& s) {
                            s.On("templates_dir", Into(c.templates_dir, "dispatch.templates_dir"))
                                .On("sync_ledger", Into(c.dispatch_sync, "dispatch.sync_ledger"));
                          }))
      .On("tracking", sub("tracking",
                          [&](Section& s) {
                            s.On("base_url", Into(c.tracking_base_url, "tracking.base_url"))
                                .On("key_file", Into(c.tracking_key_file, "tracking.key_file"));
                          }))
      .On("analytics",
          sub("analytics",
              [&](Section& s) {
                s.On("cost_per_message",
                     IntoCosts(e.analytics.cost_per_message, "analytics.cost_per_message", name))
                    .On("intervals", IntoPairs(e.analytics.intervals, "analytics.intervals", name))
                    .On("revenue_properties",
                        IntoList(e.analytics.revenue_properties, "analytics.revenue_properties"))
                    .On("max_event_names",
                        Into(e.analytics.max_event_names, "analytics.max_event_names"));
              }))
      .On("log_level", Into(c.log_level, "log_level"))
      .On("ready_max_lag", Into(c.ready_max_lag, "ready_max_lag"))
      .On("log_format", [&](const YAML::Node& n, const std::string& where) -> Status {
        if (!n.IsScalar() || (n.Scalar() != "text" && n.Scalar() != "json")) {
          return InvalidArgument(where + ": 'log_format' must be text or json");
        }
        c.log_json = n.Scalar() == "json";
        return Status::Ok();
      });
  return root_section.Apply();
}

}  // namespace

Status LoadConfigText(const std::string& text, const std::string& name, Config& config) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& ex) {
    return InvalidArgument(Where(name, ex.mark) + ": " + ex.msg);
  }
  if (root.IsNull()) return Status::Ok();
  if (!root.IsMap()) return InvalidArgument(Where(name, root.Mark()) + ": expected a mapping");
  return ApplyRoot(name, root, config);
}

Status LoadConfigFile(const std::string& path, Config& config) {
  std::ifstream in(path);
  if (!in) return NotFound("config file '" + path + "' cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadConfigText(ss.str(), path, config);
}

}  // namespace cairn::app
