// Shared helpers of the tamis CLI (main.cpp, train.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace tamis::cli {

struct TrainArgs {
  CLI::App* train = nullptr;
  CLI::App* eval = nullptr;
  CLI::App* explain = nullptr;
  std::vector<std::string> labels;
  std::vector<std::string> ham, spam;
  std::string out;  // empty: cross-validate only (never overwrite a model by default)
  std::string model;
  std::string scores;
  std::string cv_scores;
  int folds = 0;
  int repeats = 1;  // cross-validation repetitions, seeds seed, seed+1, ...
  int seed = 42;
  int threads = 2;
  int rounds = 400;
  double eta = 0.1;
  int max_depth = 5;
  int early_stopping = 30;
  int bags = 5;  // boosters averaged per model (seeds seed..seed+4)
  int token_splits = 3;  // inner splits for the training rows' token statistics (rows per message)
  std::vector<std::string> xgb_params;  // train: KEY=VALUE XGBoost parameters (model::tunable_xgb_params)
  bool json = false;
  std::string file;
  std::size_t explain_features = 12;  // explain: features listed (0: every one that contributes)
  std::string plot;
  int worst = 5;
  bool rules = false;  // eval: per-rule hit counts on ham and spam
  std::string against;  // eval: a second model to compare actions with
};

void add_train_commands(CLI::App& app, TrainArgs& a);
int run_train_commands(CLI::App& app, TrainArgs& a, const std::string& config_path);

std::string read_message(const std::string& path, std::size_t max_bytes);
std::vector<std::string> expand_paths(const std::vector<std::string>& args);
nlohmann::json result_json(const std::string& path, const engine::ScanResult& r);
std::string dump(const nlohmann::json& j);
// `shown`: the rule hits to list (engine::reported_hits: helpers left out).
std::string result_line(const std::string& path, const engine::ScanResult& r, const std::vector<std::string>& shown);
engine::SnapshotPtr load_snapshot(const std::string& config_path);

}  // namespace tamis::cli
