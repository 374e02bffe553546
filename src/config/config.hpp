// config: tamis.yaml and rule packs -> plain structs. yaml-cpp is used only
// here. Every error names the file and line (core::ConfigError); unknown keys
// are errors too, so a typo never silently falls back to a default.
//
//   Config c = tamis::config::load_config("/etc/tamis/tamis.yaml");
//   auto specs = tamis::config::load_rules(c);   // shipped packs, then rules.d
#pragma once

#include <string>
#include <vector>

#include "core/types.hpp"
#include "rules/rules.hpp"

namespace tamis::config {

struct Thresholds {
  double tag = 3.5;     // score at or above: tag (headers + subject prefix)
  double reject = 6.5;  // score at or above: the reject action
};

struct FailurePolicy {
  core::Action internal_error = core::Action::Accept;
  core::Action scan_timeout = core::Action::Accept;
  core::Action model_unavailable = core::Action::Accept;
};

struct HeaderPolicy {
  bool status_on_ham = true;           // X-Spam-Status: No, ... on accepted mail
  std::string subject_prefix = "[SPAM] ";
  bool report_header = true;           // X-Tamis-Report with the top reasons
  bool remove_incoming = true;         // strip X-Spam-* written by others
};

struct MilterConfig {
  std::string socket = "inet:11332@127.0.0.1";
  std::string user;                    // run as this user after opening the socket
  std::string pid_file;
  std::string log = "syslog";          // syslog | stderr
  int timeout_s = 600;                 // I/O with the MTA: idle between SMTP commands, or not reading replies
  std::size_t max_connections = 256;   // MTA connections (one per SMTP session); more are closed at once
  int max_scans = 0;                   // scans running at once; 0 = one per CPU core
  bool bypass_authenticated = true;
  std::vector<std::string> trusted_networks;
  std::string reject_text = "Message rejected as spam";  // sent as 550 5.7.1 <text> (ref ID)
  int metrics_port = 0;                // Prometheus /metrics endpoint; 0 = off
  std::string metrics_address = "127.0.0.1";  // loopback only (127.0.0.0/8 or ::1)
};

struct Config {
  std::string path;                    // the file this came from
  std::string dir;                     // its directory: relative paths start here
  core::Limits limits;
  Thresholds thresholds;
  core::Action reject_action = core::Action::Reject;  // what "reject" band does (reject|quarantine|discard|tag)
  bool model_enabled = true;
  std::string model_path;              // absolute after load
  double model_points_per_logit = 1.0; // model points = margin * this
  std::vector<std::string> rule_paths; // files or directories of shipped packs
  std::string local_rules_dir;         // rules.d: adds and overrides by id
  FailurePolicy failure;
  HeaderPolicy headers;
  MilterConfig milter;
};

// Loads and validates tamis.yaml and the conf.d/*.yaml beside it, merged in
// file-name order (maps merge key by key; scalars and lists replace). Each
// file is validated alone first, so errors name the file and line they are
// in. Throws core::ConfigError.
Config load_config(const std::string& path);
// The merged configuration as YAML (tamis check-config --dump).
std::string dump_config(const std::string& path);
// conf.d/*.yaml beside `config_path`, in the order they apply.
std::vector<std::string> conf_d_files(const std::string& config_path);
// Throws core::ConfigError if `path` is writable by every user (files and
// directories tamis reads its config, rules and model from).
void refuse_world_writable(const std::string& path);
// The default config path: ./config/tamis.yaml if present, else /etc/tamis/tamis.yaml.
std::string default_config_path();

// A rule plus the example texts that document and test it.
struct RuleExamples {
  std::string id;
  std::vector<std::string> hit, miss;
};

// Reads shipped packs (file-name order) then local ones; a local rule with a
// known id overrides the keys it sets, a new id adds a rule. Throws ConfigError.
std::vector<rules::RuleSpec> load_rules(const Config& c, std::vector<RuleExamples>* examples = nullptr);
// One pack file, for tests and tools.
void load_rule_file(const std::string& file, std::vector<rules::RuleSpec>& out, bool local,
                    std::vector<RuleExamples>* examples);

}  // namespace tamis::config
