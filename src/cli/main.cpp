// tamis: the command-line face of the engine.
//   tamis scan [--json] FILE|DIR...     one line per message
//   tamis check-config                  validate config + rules + model
//   tamis train / eval / explain        see cli/train.cpp
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <nlohmann/json.hpp>

#include "cli/cli.hpp"
#include "core/error.hpp"
#include "mime/message.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace tamis::cli {

std::string read_message(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string data;
  data.resize(max_bytes + 1);  // one byte more so the parser can flag truncation
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  return data;
}

std::vector<std::string> expand_paths(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  for (const auto& a : args) {
    if (fs::is_directory(a)) {
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(a, fs::directory_options::skip_permission_denied))
        if (e.is_regular_file() && e.path().filename() != "labels.tsv") found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(a);
    }
  }
  return files;
}

json result_json(const std::string& path, const engine::ScanResult& r) {
  json j;
  j["path"] = path;
  j["action"] = core::action_name(r.verdict.action);
  j["score"] = std::round(r.verdict.score * 1000) / 1000;
  j["rule_points"] = std::round(r.verdict.rule_points * 1000) / 1000;
  j["model_points"] = std::round(r.verdict.model_points * 1000) / 1000;
  j["p_spam"] = r.verdict.p_spam < 0 ? json(nullptr) : json(std::round(r.verdict.p_spam * 1e6) / 1e6);
  j["rules"] = r.rule_hits;
  json reasons = json::array();
  for (const auto& x : r.verdict.reasons) reasons.push_back({{"name", x.name}, {"points", std::round(x.points * 1000) / 1000}});
  j["reasons"] = reasons;
  j["anomalies"] = r.anomalies;
  j["us"] = {{"parse", r.times.parse_us}, {"features", r.times.features_us}, {"rules", r.times.rules_us},
             {"model", r.times.model_us}, {"total", r.times.total_us}};
  if (!r.verdict.failure.empty()) j["failure"] = r.verdict.failure;
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string result_line(const std::string& path, const engine::ScanResult& r, const std::vector<std::string>& shown) {
  char score[32];
  std::snprintf(score, sizeof score, "%.2f", r.verdict.score);
  std::string line = path + " " + core::action_name(r.verdict.action) + " score=" + score;
  line += " rules=[";
  for (std::size_t i = 0; i < shown.size(); ++i) line += (i ? "," : "") + shown[i];
  line += "] model=[";
  bool first = true;
  for (const auto& x : r.verdict.reasons) {
    if (!x.name.starts_with("model:")) continue;
    char b[32];
    std::snprintf(b, sizeof b, "%+.2f", x.points);
    line += (first ? "" : ",") + x.name.substr(6) + b;
    first = false;
  }
  line += "] anomalies=[";
  for (std::size_t i = 0; i < r.anomalies.size(); ++i) line += (i ? "," : "") + r.anomalies[i];
  line += "] us=" + std::to_string(r.times.parse_us) + "/" + std::to_string(r.times.features_us) + "/" +
          std::to_string(r.times.rules_us) + "/" + std::to_string(r.times.model_us) + "/" + std::to_string(r.times.total_us);
  if (!r.verdict.failure.empty()) line += " failure=" + r.verdict.failure;
  return line;
}

engine::SnapshotPtr load_snapshot(const std::string& config_path) {
  return engine::Snapshot::build(config_path.empty() ? config::default_config_path() : config_path);
}

}  // namespace tamis::cli

using namespace tamis;

int main(int argc, char** argv) {
  CLI::App app{"tamis: spam and abuse filter engine (scan, check-config, train, eval, explain)"};
  app.set_version_flag("--version", std::string(TAMIS_VERSION));
  std::string config_path;
  app.add_option("-c,--config", config_path, "config file (default: " + config::default_config_path() + ")");
  app.require_subcommand(1);

  auto* scan = app.add_subcommand("scan", "scan messages and print one line each");
  bool as_json = false;
  std::vector<std::string> inputs;
  scan->add_flag("--json", as_json, "one JSON object per line");
  scan->add_option("paths", inputs, "message files or directories")->required();

  auto* check = app.add_subcommand("check-config", "validate config, rules and model; exit 1 with file:line on error");
  bool dump = false;
  check->add_flag("--dump", dump, "print the merged configuration (tamis.yaml + conf.d) and the rule files read");

  cli::TrainArgs targs;
  cli::add_train_commands(app, targs);

  CLI11_PARSE(app, argc, argv);
  try {
    if (*check) {
      auto snap = cli::load_snapshot(config_path);
      if (dump) {
        std::string path = config_path.empty() ? config::default_config_path() : config_path;
        std::printf("# %s", path.c_str());
        for (const auto& f : config::conf_d_files(path)) std::printf(" + %s", f.c_str());
        std::printf("\n%s\n# rules:", config::dump_config(path).c_str());
        std::set<std::string> files;
        for (const auto& r : snap->rules->rules()) files.insert(r.file);
        for (const auto& f : files) std::printf(" %s", f.c_str());
        std::printf("\n");
      }
      for (const auto& w : snap->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
      std::printf("ok: %s: %zu rules (%zu enabled), model %s (%zu trees, %zu features), schema %s, tokenizer %d\n",
                  snap->config.path.c_str(), snap->rules->rules().size(),
                  static_cast<std::size_t>(std::count_if(snap->rules->rules().begin(), snap->rules->rules().end(),
                                                         [](const auto& r) { return r.enabled; })),
                  snap->model ? snap->config.model_path.c_str() : "disabled", snap->model ? snap->model->trees() : 0,
                  snap->model ? snap->model->feature_names().size() : 0,
                  snap->model ? snap->model->file_schema_hash().c_str() : model::schema_hash().c_str(),
                  snap->model ? snap->model->tokenizer() : features::kTokenizerVersion);
      return 0;
    }
    if (*scan) {
      auto snap = cli::load_snapshot(config_path);
      int rc = 0;
      for (const auto& f : cli::expand_paths(inputs)) {
        std::string raw;
        try {
          raw = cli::read_message(f, snap->config.limits.max_scan_bytes);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "tamis: %s\n", e.what());
          rc = 1;
          continue;
        }
        engine::ScanOptions opts;
        opts.explain = engine::Explain::Always;  // the line shows the top model contributions
        auto r = engine::scan(*snap, raw, core::Envelope{}, opts);
        std::string line = as_json ? cli::dump(cli::result_json(f, r)) : cli::result_line(f, r, engine::reported_hits(*snap, r));
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
      }
      return rc;
    }
    return cli::run_train_commands(app, targs, config_path);
  } catch (const core::ConfigError& e) {
    std::fprintf(stderr, "tamis: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tamis: %s\n", e.what());
    return 2;
  }
}
