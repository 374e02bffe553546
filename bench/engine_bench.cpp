// Engine benchmark: every message of a corpus through engine::scan on one
// thread, after a warm-up pass. Reports messages/s, µs per message (p50, p99)
// in total and per stage, the rule stage of the warm-up pass (a fresh
// snapshot, as after a reload), and the process's peak RSS.
//
//   tamis_bench [-c config/tamis.yaml] [--passes N] [--explain-all|--no-explain] DIR|FILE...
//
// It reports numbers; it asserts nothing (targets are checked by reading them).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace fs = std::filesystem;
using namespace tamis;

static double pct(std::vector<std::uint32_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int main(int argc, char** argv) {
  std::string cfg = "config/tamis.yaml";
  int passes = 3;
  engine::Explain explain = engine::Explain::NonAccept;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) cfg = argv[++i];
    else if (a == "--passes" && i + 1 < argc) passes = std::atoi(argv[++i]);
    else if (a == "--explain-all") explain = engine::Explain::Always;
    else if (a == "--no-explain") explain = engine::Explain::Never;
    else inputs.push_back(a);
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "usage: tamis_bench [-c CONFIG] [--passes N] [--explain-all|--no-explain] DIR|FILE...\n");
    return 2;
  }
  auto snap = engine::Snapshot::build(cfg);
  std::vector<std::string> msgs;
  std::size_t bytes = 0;
  for (const auto& in : inputs) {
    std::vector<fs::path> files;
    if (fs::is_directory(in)) {
      for (const auto& e : fs::recursive_directory_iterator(in))
        if (e.is_regular_file() && e.path().filename() != "labels.tsv") files.push_back(e.path());
    } else {
      files.push_back(in);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream s(f, std::ios::binary);
      std::stringstream ss;
      ss << s.rdbuf();
      msgs.push_back(ss.str());
      bytes += msgs.back().size();
    }
  }
  engine::ScanOptions opts;
  opts.explain = explain;
  // Warm-up: RE2 builds its DFA states, iconv and PSL their tables. tamisd
  // pays this again after every reload (a new snapshot compiles new
  // rules), so its cost is reported too.
  std::vector<std::uint32_t> cold_total, cold_rules;
  for (const auto& m : msgs) {
    auto r = engine::scan(*snap, m, {}, opts);
    cold_total.push_back(r.times.total_us);
    cold_rules.push_back(r.times.rules_us);
  }

  std::vector<std::uint32_t> total, parse, feat, rules, model;
  auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < passes; ++p)
    for (const auto& m : msgs) {
      auto r = engine::scan(*snap, m, {}, opts);
      total.push_back(r.times.total_us);
      parse.push_back(r.times.parse_us);
      feat.push_back(r.times.features_us);
      rules.push_back(r.times.rules_us);
      model.push_back(r.times.model_us);
    }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::size_t n = total.size();
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  auto mean = [](const std::vector<std::uint32_t>& v) {
    double s = 0;
    for (auto x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  std::printf("tamis engine benchmark (1 thread)\n");
  std::printf("corpus: %zu messages, %.1f MB; %d passes after 1 warm-up pass; contributions: %s\n", msgs.size(),
              static_cast<double>(bytes) / 1e6, passes,
              explain == engine::Explain::Always ? "always" : explain == engine::Explain::Never ? "never" : "non-accepted mail (tamisd default)");
  std::printf("rules: %zu, model: %zu trees, %zu features\n", snap->rules->rules().size(),
              snap->model ? snap->model->trees() : 0, snap->model ? snap->model->feature_names().size() : 0);
  std::printf("throughput: %.0f messages/s (%.1f µs/message wall)\n", static_cast<double>(n) / secs, secs * 1e6 / static_cast<double>(n));
  std::printf("%-9s %9s %9s %9s %9s\n", "stage", "mean_us", "p50_us", "p99_us", "max_us");
  auto row = [&](const char* name, const std::vector<std::uint32_t>& v) {
    std::printf("%-9s %9.1f %9.0f %9.0f %9.0f\n", name, mean(v), pct(v, 0.5), pct(v, 0.99), pct(v, 1.0));
  };
  row("parse", parse);
  row("features", feat);
  row("rules", rules);
  row("model", model);
  row("total", total);
  const std::size_t first = std::min<std::size_t>(100, cold_rules.size());
  std::vector<std::uint32_t> first_rules(cold_rules.begin(), cold_rules.begin() + static_cast<std::ptrdiff_t>(first));
  std::printf("warm-up pass on the fresh snapshot: rules mean %.1f µs (first %zu messages %.1f µs), total mean %.1f µs\n",
              mean(cold_rules), first, mean(first_rules), mean(cold_total));
  std::printf("peak RSS: %.1f MB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}
