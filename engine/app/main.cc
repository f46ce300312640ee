// cairn: the engine binary. Subcommands: run, validate, simulate, broker, demo, produce-sample,
// import labels, segment preview, token create, backup, restore, erasures export.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "app/backup_command.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/import_labels_command.h"
#include "app/segment_command.h"
#include "app/simulate_command.h"
#include "app/token_command.h"
#include "app/validate_command.h"

int main(int argc, char** argv) {
  using namespace cairn::app;
  CLI::App cli{"Cairn: event-driven customer journeys"};
  cli.require_subcommand(1);

  // cairn run
  Config config;
  std::string config_file;
  auto* run = cli.add_subcommand("run", "Run the engine");
  run->add_option("--config", config_file, "YAML config file (docs/configuration.md)");
  auto* brokers = run->add_option("--brokers", "Kafka bootstrap servers (production)");
  auto* embedded = run->add_option("--embedded-kafka",
                                   "Address of the embedded development broker, used when no "
                                   "brokers are given (default 127.0.0.1:9092)");
  auto* data_dir = run->add_option("--data-dir", "RocksDB data directory (default ./cairn-data)");
  auto* http = run->add_option("--http,--admin-listen",
                               "Admin HTTP listener: the API, metrics, probes (default "
                               "127.0.0.1:8080; loopback only without --admin-tokens)");
  auto* public_listen = run->add_option(
      "--public-listen",
      "Public HTTP listener: tracking links, provider callbacks (default 127.0.0.1:8081)");
  auto* admin_tokens =
      run->add_option("--admin-tokens",
                      "Admin bearer tokens file (docs/api.md); without it the admin API "
                      "serves loopback only");
  auto* group = run->add_option("--group", "Kafka consumer group id (default cairn)");
  auto* instance = run->add_option("--instance-id", "Static group membership id (a pod name)");
  auto* log_level = run->add_option("--log-level", "trace, debug, info, warn, error");
  bool log_json = false;
  run->add_flag("--log-json", log_json, "Log JSON lines (ts, level, logger, msg)");
  auto* journeys_dir = run->add_option("--journeys", "Journey directory, watched for changes");

  // cairn validate
  std::vector<std::string> validate_paths;
  std::string validate_config;
  auto* validate = cli.add_subcommand(
      "validate", "Check journey files and/or an engine config; file:line:col per problem");
  validate->add_option("paths", validate_paths, "Journey files or directories");
  validate->add_option("--config", validate_config,
                       "An engine config file (docs/configuration.md)");

  // cairn simulate
  SimulateOptions sim;
  auto* simulate = cli.add_subcommand("simulate", "Run journeys on an event file in virtual time");
  simulate->add_option("--journeys", sim.journeys, "Journey directory")->required();
  simulate->add_option("--events", sim.events, "Events, one Segment JSON per line")->required();
  simulate->add_option("--profiles", sim.profiles, "Profiles {userId, traits}, one per line");
  simulate->add_option("--diff", sim.diff,
                       "Another journey directory to compare on the same events");
  simulate->add_option("--horizon", sim.horizon,
                       "How long to run timers after the last event (e.g. 30d; default: "
                       "the longest absence window plus the longest max_lifetime)");
  simulate->add_flag("--quiet", sim.quiet, "Print only the summary");
  simulate->add_flag("--no-profile", sim.no_profile,
                     "Run the journeys without the profile beside them (DIR/profile)");

  // cairn broker
  std::string listen = "127.0.0.1:9092";
  int partitions = 16;
  std::vector<std::string> topics = {"cairn.events", "cairn.events.dlq", "cairn.tasks"};
  auto* broker = cli.add_subcommand("broker", "Run only the development Kafka broker");
  broker->add_option("--listen", listen, "Address to serve (port 0 = any)")->capture_default_str();
  broker->add_option("--partitions", partitions, "Partitions per topic")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  broker->add_option("--topic", topics, "Topics to create")->capture_default_str();

  // cairn demo
  DemoOptions demo;
  auto* demo_cmd = cli.add_subcommand("demo", "Run the engine on a sample stream and report");
  demo_cmd->add_option("--data-dir", demo.data_dir, "Demo data dir (wiped)")->capture_default_str();
  demo_cmd->add_option("--customers", demo.customers)
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  demo_cmd->add_option("--days", demo.days)->capture_default_str()->check(CLI::Range(1, 3650));
  demo_cmd->add_option("--seed", demo.seed)->capture_default_str();
  demo_cmd->add_option("--http", demo.http, "Admin API address (loopback)")->capture_default_str();
  demo_cmd->add_option("--public-http", demo.public_http, "Public address (tracking links)")
      ->capture_default_str();
  demo_cmd->add_flag("--serve", demo.serve, "Keep the engine up after the report");
  demo_cmd->add_option("--journeys", demo.journeys, "Journey directory (empty: none)")
      ->capture_default_str();
  demo_cmd
      ->add_option("--smtp-sink", demo.smtp_sink,
                   "postfix smtp-sink binary for email delivery (empty: no email)")
      ->capture_default_str();

  // cairn produce-sample
  std::string sample_brokers = "127.0.0.1:9092";
  std::string sample_topic = "cairn.events";
  int sample_customers = 3000;
  int sample_days = 180;
  uint64_t sample_seed = 42;
  auto* sample = cli.add_subcommand("produce-sample", "Publish the sample stream to Kafka");
  sample->add_option("--brokers", sample_brokers)->capture_default_str();
  sample->add_option("--topic", sample_topic)->capture_default_str();
  sample->add_option("--customers", sample_customers)->capture_default_str();
  sample->add_option("--days", sample_days)->capture_default_str();
  sample->add_option("--seed", sample_seed)->capture_default_str();

  // cairn import labels
  ImportLabelsOptions import_labels;
  auto* import_cmd = cli.add_subcommand("import", "Bulk imports");
  import_cmd->require_subcommand(1);
  auto* labels_cmd = import_cmd->add_subcommand(
      "labels", "Add/remove customer labels from a CSV or JSON-lines file (docs/labels-import.md)");
  labels_cmd->add_option("file", import_labels.file, "FILE.csv or FILE.jsonl")->required();
  labels_cmd->add_option("--format", import_labels.format, "csv or jsonl (default: from the name)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  labels_cmd->add_option("--config", import_labels.config_file,
                         "The engine's YAML config, for kafka.brokers and topics.events");
  labels_cmd->add_option("--brokers", import_labels.brokers,
                         "Kafka bootstrap servers (default: the config's, else 127.0.0.1:9092)");
  labels_cmd->add_option("--topic", import_labels.topic,
                         "Events topic (default: the config's topics.events, cairn.events)");

  // cairn segment preview NAME
  SegmentPreviewOptions preview;
  auto* segment_cmd = cli.add_subcommand("segment", "Segments (docs/profiles.md)");
  segment_cmd->require_subcommand(1);
  auto* preview_cmd = segment_cmd->add_subcommand(
      "preview", "A segment's live size, condition and a sample of members, from a running engine");
  preview_cmd->add_option("name", preview.name, "The segment's name")->required();
  preview_cmd->add_option("--api", preview.api, "The engine's HTTP API")->capture_default_str();
  preview_cmd->add_option("--sample", preview.sample, "Members to show (0-1000)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();

  // cairn token create
  TokenCreateOptions token;
  auto* token_cmd = cli.add_subcommand("token", "Admin API tokens (docs/api.md)");
  token_cmd->require_subcommand(1);
  auto* token_create = token_cmd->add_subcommand(
      "create", "Print a new token; append its hashed line to the token file");
  token_create->add_option("--scope", token.scope, "read or admin")
      ->required()
      ->check(CLI::IsMember({"read", "admin"}));
  token_create->add_option("--name", token.name, "Who holds it (shown in the audit log)")
      ->required();
  token_create->add_option("--file", token.file,
                           "Token file to append to (created 0600); without it the line is "
                           "printed on stderr");

  // cairn backup / restore / erasures export (docs/operations.md §4)
  BackupCommandOptions backup_opts;
  auto* backup_cmd =
      cli.add_subcommand("backup", "Checkpoint a running engine's RocksDB; prints the path");
  backup_cmd->add_option("--api", backup_opts.api, "The engine's admin API")->capture_default_str();
  backup_cmd->add_option("--token-file", backup_opts.token_file,
                         "A file holding an admin-scope bearer token");
  RestoreCommandOptions restore_opts;
  auto* restore_cmd = cli.add_subcommand(
      "restore", "Restore a backup into a data dir (engine stopped) and re-apply erasures");
  restore_cmd->add_option("--backup", restore_opts.backup, "The backup directory")->required();
  restore_cmd->add_option("--data", restore_opts.data, "The data dir to restore into")->required();
  restore_cmd->add_flag("--replace", restore_opts.replace,
                        "Move a non-empty data dir aside (<data>.before-restore-<time>)");
  restore_cmd->add_option("--erasures", restore_opts.erasures,
                          "Tombstone exports (cairn erasures export) to re-apply too");
  restore_cmd->add_option("--config", restore_opts.config_file,
                          "The engine's YAML config (tracking.key_file, topics.events)");
  std::string erasures_data, erasures_out;
  auto* erasures_cmd = cli.add_subcommand("erasures", "GDPR erasure tombstones");
  erasures_cmd->require_subcommand(1);
  auto* erasures_export = erasures_cmd->add_subcommand(
      "export", "Write a data dir's (or backup's) erasure tombstones as JSON lines");
  erasures_export->add_option("--data", erasures_data, "A data dir or a backup directory")
      ->required();
  erasures_export->add_option("--out", erasures_out, "The file to write")->required();

  CLI11_PARSE(cli, argc, argv);
  InstallSignalHandlers();

  if (*run) {
    if (!config_file.empty()) {
      if (auto s = LoadConfigFile(config_file, config); !s.ok()) {
        spdlog::error("{}", s.message());
        return 2;
      }
    }
    // Flags override the file.
    if (*brokers) config.engine.brokers = brokers->as<std::string>();
    if (*embedded) config.embedded_kafka = embedded->as<std::string>();
    if (*data_dir) config.store.dir = data_dir->as<std::string>();
    if (*http) config.http.admin_listen = http->as<std::string>();
    if (*public_listen) config.http.public_listen = public_listen->as<std::string>();
    if (*admin_tokens) config.http.admin_tokens_file = admin_tokens->as<std::string>();
    if (*group) config.engine.group_id = group->as<std::string>();
    if (*instance) config.engine.instance_id = instance->as<std::string>();
    if (*log_level) config.log_level = log_level->as<std::string>();
    if (log_json) config.log_json = true;
    if (*journeys_dir) config.journeys_dir = journeys_dir->as<std::string>();
    return RunCommand(config);
  }
  if (*broker) return BrokerCommand(listen, partitions, topics);
  if (*labels_cmd) {
    spdlog::set_level(spdlog::level::warn);
    import_labels.terminal = isatty(STDERR_FILENO) != 0;
    return ImportLabelsCommand(import_labels, std::cout, std::cerr);
  }
  if (*validate) {
    int rc = 0;
    if (!validate_config.empty()) rc = RunValidateConfig(validate_config, std::cout);
    if (!validate_paths.empty() || validate_config.empty()) {
      rc = std::max(rc, RunValidate(validate_paths, std::cout, std::cerr));
    }
    return rc;
  }
  if (*preview_cmd) return RunSegmentPreview(preview, std::cout, std::cerr);
  if (*token_create) return TokenCreateCommand(token, std::cout, std::cerr);
  if (*backup_cmd) return BackupCommand(backup_opts, std::cout, std::cerr);
  if (*restore_cmd) {
    spdlog::set_level(spdlog::level::warn);
    return RestoreCommand(restore_opts, std::cout, std::cerr);
  }
  if (*erasures_export) {
    return ErasuresExportCommand(erasures_data, erasures_out, std::cout, std::cerr);
  }
  if (*simulate) {
    spdlog::set_level(spdlog::level::warn);
    return SimulateCommand(sim, std::cout, std::cerr);
  }
  if (*demo_cmd) return DemoCommand(demo);
  if (*sample) {
    return ProduceSampleCommand(sample_brokers, sample_topic, sample_customers, sample_days,
                                sample_seed);
  }
  return 2;
}
