// tamis train / eval / explain.
//
// Training pipeline (one fit):
//   1. every message goes through engine::scan (no model): the structural
//      features, tokens and rule hits are exactly what serving computes;
//   2. the token table's features for the booster are computed out-of-fold
//      (5 inner folds), so the trees never see a token score that already
//      knew the message's label;
//   3. XGBoost (binary:logistic, hist) with early stopping on a stratified
//      10% validation part of the training data; the token statistics and
//      the structural spam signs are monotone (model::monotone_constraints).
// --folds K repeats the fit on K stratified folds and reports metrics only on
// each held-out fold; --repeats N does that N times with other splits, and
// suggests tag/reject thresholds from all the out-of-fold ham scores.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <array>
#include <map>
#include <tuple>

#include "cli/cli.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace tamis::cli {
namespace {

struct Example {
  std::string path;
  int label = 0;  // 1 = spam
  std::vector<float> vec;
  std::vector<std::uint64_t> tokens;
  std::vector<std::string> hits;
  double rule_points = 0;
};

// One labelled message: a file, or a message cut out of an mbox (kept in memory).
struct Item {
  std::string name;  // path, or "mbox#N"
  int label = 0;     // 1 = spam
  std::optional<std::string> raw;
};

std::string load(const Item& it, std::size_t max_bytes) {
  if (it.raw) return it.raw->size() > max_bytes + 1 ? it.raw->substr(0, max_bytes + 1) : *it.raw;
  return read_message(it.name, max_bytes);
}

// Messages of an mbox file: split at "From " lines that start a message
// (first line, or after a blank line); ">From " quoting is undone.
void read_mbox(const std::string& path, int label, std::vector<Item>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::ConfigError(path, 0, "cannot read mbox");
  std::string line, cur;
  bool prev_blank = true, have = false;
  std::size_t n = 0;
  auto flush = [&] {
    if (have) out.push_back({path + "#" + std::to_string(++n), label, cur});
    cur.clear();
  };
  while (std::getline(in, line)) {
    if (prev_blank && line.rfind("From ", 0) == 0) {
      flush();
      have = true;
    } else if (line.rfind(">From ", 0) == 0 || line.rfind(">>From ", 0) == 0) {
      line.erase(0, 1);
    }
    if (have) cur.append(line).push_back('\n');
    prev_blank = line.empty() || line == "\r";
  }
  flush();
}

// A Maildir (cur/ and new/), a plain directory of message files, or an mbox file.
void read_source(const std::string& path, int label, std::vector<Item>& out) {
  if (fs::is_directory(path)) {
    std::vector<std::string> files;
    bool maildir = fs::is_directory(fs::path(path) / "cur") || fs::is_directory(fs::path(path) / "new");
    if (maildir) {
      for (const char* sub : {"cur", "new"})
        if (fs::is_directory(fs::path(path) / sub))
          for (const auto& e : fs::directory_iterator(fs::path(path) / sub))
            if (e.is_regular_file()) files.push_back(e.path().string());
    } else {
      for (const auto& e : fs::recursive_directory_iterator(path))
        if (e.is_regular_file() && e.path().filename() != "labels.tsv" && e.path().filename().string()[0] != '.')
          files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) out.push_back({f, label, std::nullopt});
  } else if (fs::is_regular_file(path)) {
    read_mbox(path, label, out);
  } else {
    throw core::ConfigError(path, 0, "no such Maildir, directory or mbox");
  }
}

std::vector<Item> read_labels(const std::vector<std::string>& files, const std::vector<std::string>& ham = {},
                              const std::vector<std::string>& spam = {}) {
  std::vector<Item> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) throw core::ConfigError(f, 0, "cannot read labels file");
    fs::path dir = fs::path(f).parent_path();
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      auto tab = line.find('\t');
      if (tab == std::string::npos) throw core::ConfigError(f, n, "expected label<TAB>path");
      std::string label = line.substr(0, tab), path = line.substr(tab + 1);
      if (label != "ham" && label != "spam") throw core::ConfigError(f, n, "label must be ham or spam, got '" + label + "'");
      fs::path p(path);
      out.push_back({(p.is_absolute() ? p : dir / p).string(), label == "spam" ? 1 : 0, std::nullopt});
    }
  }
  for (const auto& h : ham) read_source(h, 0, out);
  for (const auto& sp : spam) read_source(sp, 1, out);
  if (out.empty()) throw core::ConfigError(files.empty() ? "" : files[0], 0, "no labelled messages (give --labels, --ham or --spam)");
  // A file that cannot be read is left out. Scored as an empty message it
  // would teach the model that an empty message is ham or spam, and skew
  // every metric. A few missing files are normal (a Maildir renames a file
  // when its flags change); none readable is a wrong path.
  const std::size_t listed = out.size();
  std::size_t missing = 0;
  std::erase_if(out, [&](const Item& it) {
    if (it.raw) return false;
    std::error_code ec;
    if (std::ifstream(it.name, std::ios::binary) && !fs::is_directory(it.name, ec)) return false;
    if (++missing <= 10) std::fprintf(stderr, "tamis: cannot read %s (left out)\n", it.name.c_str());
    return true;
  });
  if (missing > 0)
    std::fprintf(stderr, "tamis: %zu of %zu labelled messages cannot be read and are left out\n", missing, listed);
  if (out.empty())
    throw core::ConfigError(files.empty() ? "" : files[0], 0,
                            "none of the " + std::to_string(listed) +
                                " labelled messages can be read (paths in a labels file are relative to that file)");
  return out;
}

// Extracts every message on `threads` threads with the snapshot's rules.
std::vector<Example> extract_all(const engine::Snapshot& snap, const std::vector<Item>& labels, int threads) {
  std::vector<Example> ex(labels.size());
  std::atomic<std::size_t> next{0}, done{0};
  auto work = [&] {
    engine::ScanOptions o;
    o.explain = engine::Explain::Never;
    o.keep_extracted = true;
    for (std::size_t i; (i = next++) < labels.size();) {
      Example& e = ex[i];
      e.path = labels[i].name;
      e.label = labels[i].label;
      std::string raw;
      try {
        raw = load(labels[i], snap.config.limits.max_scan_bytes);
      } catch (const std::exception& err) {
        std::fprintf(stderr, "tamis: %s (vanished after listing; treated as empty)\n", err.what());
      }
      auto r = engine::scan(snap, raw, core::Envelope{}, o);
      if (r.extracted) {
        e.vec = std::move(r.extracted->vector);
        e.tokens = std::move(r.extracted->tokens);
      } else {
        e.vec.assign(features::kFeatureCount, NAN);
      }
      e.hits = std::move(r.rule_hits);
      e.rule_points = r.verdict.rule_points;
      std::size_t d = ++done;
      if (d % 1000 == 0) std::fprintf(stderr, "  extracted %zu/%zu\n", d, labels.size());
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  return ex;
}

// Stratified assignment of each example to one of k folds.
std::vector<int> stratified_folds(const std::vector<Example>& ex, const std::vector<std::size_t>& idx, int k, std::mt19937_64& rng) {
  std::vector<int> fold(idx.size());
  for (int label = 0; label < 2; ++label) {
    std::vector<std::size_t> pos;
    for (std::size_t i = 0; i < idx.size(); ++i)
      if (ex[idx[i]].label == label) pos.push_back(i);
    std::shuffle(pos.begin(), pos.end(), rng);
    for (std::size_t j = 0; j < pos.size(); ++j) fold[pos[j]] = static_cast<int>(j % static_cast<std::size_t>(k));
  }
  return fold;
}

struct Fit {
  std::shared_ptr<const model::Model> model;
  int best_rounds = 0;
};

std::vector<float> row_of(const Example& e, const model::TokenTable& tt, const std::vector<std::string>& rule_features) {
  std::vector<float> r = e.vec;
  for (features::F f : model::unread_features()) r[features::idx(f)] = NAN;
  tt.features(e.tokens, r);
  for (const auto& id : rule_features) r.push_back(std::find(e.hits.begin(), e.hits.end(), id) != e.hits.end() ? 1.0f : 0.0f);
  return r;
}

Fit fit(const std::vector<Example>& ex, const std::vector<std::size_t>& train_idx, const std::vector<std::string>& rule_features,
        const model::TrainParams& params, std::mt19937_64& rng, const json& meta, double points_per_logit) {
  // validation part for early stopping
  auto vfold = stratified_folds(ex, train_idx, 10, rng);
  std::vector<std::size_t> fit_idx, valid_idx;
  for (std::size_t i = 0; i < train_idx.size(); ++i) (vfold[i] == 0 ? valid_idx : fit_idx).push_back(train_idx[i]);
  auto docs_of = [&](const std::vector<std::size_t>& ids, std::vector<const std::vector<std::uint64_t>*>& docs, std::vector<int>& labels) {
    docs.clear();
    labels.clear();
    for (auto i : ids) { docs.push_back(&ex[i].tokens); labels.push_back(ex[i].label); }
  };
  std::vector<const std::vector<std::uint64_t>*> docs;
  std::vector<int> labels;
  // Out-of-fold token features for the fit part, token_splits times with
  // other inner splits: each message gives that many rows, whose token
  // statistics come from tables that differ in which other mail they hold.
  // The trees then see how much those statistics move for one message (as a
  // site's own table moves from week to week), not one draw of them: with
  // 3 splits, ten 5-fold splits of the SpamAssassin corpus gave AUC
  // 0.999755 / FNR 6.21 % against 0.999734 / 6.84 % with one (MODEL_CARD.md).
  const int inner = 5;
  // near_spam counts in the first split's rows only (the others' tables
  // index no spam): in the others the message's campaign is unknown, as it
  // is for mail from other servers and years. Trees that lean on it for every copy of a campaign score
  // spam with no known copy lower: on csdmc2010 the seed-42 model let
  // 66.5 % of the spam through at tag, against 63.2 % with this (six
  // seeds: 63.0 % and 61.9 %), and the SpamAssassin folds hardly moved
  // (ten splits 0.999773 / 5.58 % and 0.999771 / 5.67 %, MODEL_CARD.md).
  std::size_t ncols = 0;
  std::vector<float> X, y, vX, vy, base, vbase;
  for (int split = 0; split < std::max(1, params.token_splits); ++split) {
    auto ifold = stratified_folds(ex, fit_idx, inner, rng);
    std::vector<std::vector<float>> rows(fit_idx.size());
    for (int f = 0; f < inner; ++f) {
      std::vector<std::size_t> others;
      for (std::size_t i = 0; i < fit_idx.size(); ++i)
        if (ifold[i] != f) others.push_back(fit_idx[i]);
      docs_of(others, docs, labels);
      auto tt = model::TokenTable::train(docs, labels);
      if (split == 0) tt.near = model::NearIndex::build(docs, labels);
      for (std::size_t i = 0; i < fit_idx.size(); ++i)
        if (ifold[i] == f) rows[i] = row_of(ex[fit_idx[i]], tt, rule_features);
    }
    for (std::size_t i = 0; i < fit_idx.size(); ++i) {
      ncols = rows[i].size();
      X.insert(X.end(), rows[i].begin(), rows[i].end());
      y.push_back(static_cast<float>(ex[fit_idx[i]].label));
      base.push_back(static_cast<float>(ex[fit_idx[i]].rule_points / points_per_logit));
    }
  }
  docs_of(fit_idx, docs, labels);
  auto final_tt = model::TokenTable::train(docs, labels);
  final_tt.near = model::NearIndex::build(docs, labels);  // the validation rows' (served: below)
  for (auto i : valid_idx) {
    auto r = row_of(ex[i], final_tt, rule_features);
    vX.insert(vX.end(), r.begin(), r.end());
    vy.push_back(static_cast<float>(ex[i].label));
    vbase.push_back(static_cast<float>(ex[i].rule_points / points_per_logit));
  }
  Fit out;
  model::TrainParams p = params;
  p.monotone = model::monotone_constraints(ncols);
  // Several boosters on the same rows, differing only in their seed (row and
  // column samples), averaged: on the SpamAssassin folds 5 bags gave AUC
  // 0.999718 / FNR 7.54 % against 0.999696 / 8.15 % (10 splits), and their
  // spread on other mail is smaller (MODEL_CARD.md).
  std::vector<std::string> bagged;
  int rounds_sum = 0;
  for (int b = 0; b < std::max(1, params.bags); ++b) {
    p.seed = params.seed + b;
    int rounds = 0;
    bagged.push_back(model::train_booster(X, ncols, y, vX, vy, p, &rounds, base, vbase));
    rounds_sum += rounds;
  }
  out.best_rounds = rounds_sum / std::max(1, params.bags);
  std::string booster = model::average_boosters(bagged);
  json m = meta;
  m["best_rounds"] = out.best_rounds;  // mean over the bags
  m["token_count"] = final_tt.weight.size();
  // The served index holds every training spam, the early-stopping part
  // too: a campaign that part alone holds is still known. (The validation
  // rows above had to be scored without themselves.)
  docs_of(train_idx, docs, labels);
  final_tt.near = model::NearIndex::build(docs, labels);
  out.model = model::Model::from_parts(booster, std::move(final_tt), rule_features, m.dump());
  return out;
}

struct Metrics {
  double auc = 0, fnr_at_fpr_1e3 = 0, fnr_at_fpr_1e4 = 0;
  std::size_t n_ham = 0, n_spam = 0;
};

// AUC (with ties counted half) and FNR at fixed FPRs, from scores where higher = spam.
Metrics metrics(const std::vector<double>& score, const std::vector<int>& label) {
  Metrics m;
  std::vector<std::size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return score[a] < score[b]; });
  double rank_sum = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) ++j;
    double avg = (static_cast<double>(i) + static_cast<double>(j) + 1) / 2.0;
    for (std::size_t k = i; k < j; ++k)
      if (label[order[k]]) rank_sum += avg;
    i = j;
  }
  for (int l : label) (l ? m.n_spam : m.n_ham)++;
  if (m.n_ham && m.n_spam)
    m.auc = (rank_sum - static_cast<double>(m.n_spam) * (static_cast<double>(m.n_spam) + 1) / 2) /
            (static_cast<double>(m.n_ham) * static_cast<double>(m.n_spam));
  std::vector<double> ham;
  for (std::size_t i = 0; i < score.size(); ++i)
    if (!label[i]) ham.push_back(score[i]);
  std::sort(ham.begin(), ham.end(), std::greater<double>());
  auto fnr_at = [&](double fpr) {
    // threshold: the lowest score above which at most fpr of ham lies (strictly greater)
    std::size_t allowed = static_cast<std::size_t>(std::floor(fpr * static_cast<double>(ham.size())));
    double thr = allowed < ham.size() ? ham[allowed] : -1e300;
    std::size_t missed = 0;
    for (std::size_t i = 0; i < score.size(); ++i)
      if (label[i] && score[i] <= thr) ++missed;
    return m.n_spam ? static_cast<double>(missed) / static_cast<double>(m.n_spam) : 0.0;
  };
  m.fnr_at_fpr_1e3 = fnr_at(1e-3);
  m.fnr_at_fpr_1e4 = fnr_at(1e-4);
  return m;
}

// Thresholds from out-of-fold scores (label 1 = spam): the lowest tag with at
// most 0.1 % of ham at or above it, the lowest reject with at most 0.01 %,
// rounded up to a step of 0.1; with the FPR and FNR they give on these scores.
struct ThresholdSuggestion {
  std::size_t n_ham = 0;
  double tag = 0, tag_fpr = 0, tag_fnr = 0;
  double reject = 0, reject_fpr = 0, reject_fnr = 0;
};

ThresholdSuggestion suggest_thresholds(const std::vector<double>& score, const std::vector<int>& label) {
  ThresholdSuggestion s;
  std::vector<double> ham, spam;
  for (std::size_t i = 0; i < score.size(); ++i) (label[i] ? spam : ham).push_back(score[i]);
  s.n_ham = ham.size();
  if (ham.empty()) return s;
  std::sort(ham.begin(), ham.end(), std::greater<double>());
  // The lowest threshold, in steps of 0.1, with at most fpr of ham at or
  // above it (the policy acts on score >= threshold).
  auto pick = [&](double fpr, double& thr, double& got_fpr, double& fnr) {
    auto allowed = static_cast<std::size_t>(std::floor(fpr * static_cast<double>(ham.size())));
    double above = allowed < ham.size() ? ham[allowed] : -1e300;  // this ham must stay below
    thr = std::floor(above * 10 + 1e-9) / 10 + 0.1;
    std::size_t fp = 0, fn = 0;
    for (double h : ham) fp += h >= thr;
    for (double x : spam) fn += x < thr;
    got_fpr = static_cast<double>(fp) / static_cast<double>(ham.size());
    fnr = spam.empty() ? 0.0 : static_cast<double>(fn) / static_cast<double>(spam.size());
  };
  pick(1e-3, s.tag, s.tag_fpr, s.tag_fnr);
  pick(1e-4, s.reject, s.reject_fpr, s.reject_fnr);
  return s;
}

// The rules the model reads: enabled, model_feature, and hit by at least
// one training message. A rule that hits none teaches the model nothing; as
// a column it is constant, and with 10 % of the columns drawn per tree it
// takes the place of one that informs (two such rules cost 0.00001 AUC and
// 0.7 points of FNR over ten CV splits). Its points still count at scan
// time. Which rules hit is read without the labels, over every message.
std::vector<std::string> rule_feature_ids(const engine::Snapshot& snap, const std::vector<Example>& ex,
                                          std::vector<std::string>* without_hits) {
  std::set<std::string> hit;
  for (const auto& e : ex) hit.insert(e.hits.begin(), e.hits.end());
  std::vector<std::string> ids;
  for (const auto& r : snap.rules->rules()) {
    if (!r.enabled || !r.model_feature) continue;
    if (hit.contains(r.id)) ids.push_back(r.id);
    else if (without_hits) without_hits->push_back(r.id);
  }
  return ids;
}

// Fewest messages of each class `tamis train` accepts.
constexpr std::size_t kMinPerClass = 10;

int run_train(const TrainArgs& a, const std::string& config_path) {
  if (a.out.empty() && a.folds < 2) {
    std::fprintf(stderr, "tamis train: nothing to do: give --out FILE to write a model, and/or --folds K to cross-validate\n");
    return 1;
  }
  if (a.repeats > 1 && a.folds < 2) {
    std::fprintf(stderr, "tamis train: --repeats repeats the cross-validation: give --folds K (K >= 2) too\n");
    return 1;
  }
  // XGBoost parameters first: a typo is refused before the corpus is read.
  std::vector<std::pair<std::string, std::string>> xgb;
  for (const auto& kv : a.xgb_params) {
    auto param = model::parse_xgb_param(kv);
    for (const auto& seen : xgb)
      if (seen.first == param.first)
        throw core::ConfigError("", 0, "--xgb-param " + param.first + " is given twice");
    xgb.push_back(std::move(param));
  }
  auto t0 = std::chrono::steady_clock::now();
  auto cfg = config::load_config(config_path.empty() ? config::default_config_path() : config_path);
  cfg.model_enabled = false;  // training scores with rules only
  auto specs = config::load_rules(cfg);
  auto snap = engine::Snapshot::from_parts(cfg, specs, nullptr);
  auto labels = read_labels(a.labels, a.ham, a.spam);
  // Both classes, and enough of each for every fold, the inner folds of the
  // token statistics and the 10 % validation part to hold some: a model fit
  // to one class says nothing, and a fold without spam has no metrics.
  {
    std::size_t n_spam = 0;
    for (const auto& it : labels) n_spam += it.label != 0;
    const std::size_t n_ham = labels.size() - n_spam;
    const std::size_t need = std::max<std::size_t>(kMinPerClass, a.folds > 1 ? static_cast<std::size_t>(a.folds) : 0);
    if (n_ham < need || n_spam < need) {
      std::fprintf(stderr, "tamis train: %zu ham and %zu spam readable; training needs at least %zu of each\n", n_ham,
                   n_spam, need);
      return 1;
    }
  }
  std::fprintf(stderr, "tamis train: %zu messages\n", labels.size());
  auto ex = extract_all(*snap, labels, a.threads);
  auto t_extract = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "  features extracted in %.1f s\n", t_extract);
  std::vector<std::string> unhit;
  auto rf = rule_feature_ids(*snap, ex, &unhit);
  if (!unhit.empty()) {
    std::fprintf(stderr, "  %zu rules hit none of these messages and are not model features (their points still count): %s\n",
                 unhit.size(), core::join(unhit, ", ").c_str());
  }
  model::TrainParams p;
  p.rounds = a.rounds;
  p.eta = a.eta;
  p.max_depth = a.max_depth;
  p.early_stopping = a.early_stopping;
  p.threads = a.threads;
  p.seed = a.seed;
  p.bags = a.bags;
  p.token_splits = a.token_splits;
  p.xgb = xgb;
  json xgb_used = json::object();
  for (const auto& [key, value] : xgb) xgb_used[key] = value;
  json limits_used = json::object();
  for (const auto& [name, member] : core::kSizeLimits) limits_used[name] = cfg.limits.*member;
  json meta = {{"trained_at", static_cast<long long>(std::time(nullptr))},
               {"limits", limits_used},  // the config's limits: a scan with others warns (Snapshot::warnings)
               {"messages", ex.size()},
               {"labels_files", a.labels},
               {"rules_without_hits", unhit},
               {"params", {{"rounds", p.rounds}, {"max_depth", p.max_depth}, {"eta", p.eta}, {"subsample", p.subsample},
                           {"colsample_bytree", p.colsample}, {"early_stopping", p.early_stopping}, {"seed", p.seed}, {"bags", p.bags},
                           {"token_splits", p.token_splits}, {"xgb", xgb_used},
                           {"monotone", "tok_sum, tok_mean, tok_top_spam, tok_top_ham, near_spam and model::spam_sign_features(): increasing"}}}};
  std::vector<std::size_t> all(ex.size());
  std::iota(all.begin(), all.end(), 0);
  json folds_json = json::array();
  if (a.folds > 1) {
    double sum_auc = 0, sum_fnr3 = 0, sum_fnr4 = 0;
    std::ofstream cvs;
    if (!a.cv_scores.empty()) cvs.open(a.cv_scores);
    std::vector<double> pooled;  // every out-of-fold score, all repetitions
    std::vector<int> pooled_label;
    const int repeats = std::max(1, a.repeats);
    for (int rep = 0; rep < repeats; ++rep) {
      // repetition r splits with seed + r; the first one is the plain --folds run
      std::mt19937_64 rng(static_cast<std::uint64_t>(a.seed + rep));
      auto fold = stratified_folds(ex, all, a.folds, rng);
      for (int f = 0; f < a.folds; ++f) {
        std::vector<std::size_t> tr, te;
        for (std::size_t i = 0; i < ex.size(); ++i) (fold[i] == f ? te : tr).push_back(i);
        Fit ft = fit(ex, tr, rf, p, rng, meta, cfg.model_points_per_logit);
        std::vector<double> scores;
        std::vector<int> lab;
        std::vector<int> bind(rf.size());  // rule features are the held-out hits by position
        std::iota(bind.begin(), bind.end(), 0);
        std::string fold_name = repeats > 1 ? std::to_string(rep + 1) + "." + std::to_string(f + 1) : std::to_string(f + 1);
        for (auto i : te) {
          // the held-out message through the same row builder serving uses
          features::Extracted e;
          e.vector = ex[i].vec;
          e.tokens = ex[i].tokens;
          rules::RuleHits hits;
          for (std::size_t k = 0; k < rf.size(); ++k)
            if (std::find(ex[i].hits.begin(), ex[i].hits.end(), rf[k]) != ex[i].hits.end()) hits.hits.push_back(k);
          model::Prediction pr;
          ft.model->predict(ft.model->row(e, hits, bind), false, pr);
          scores.push_back(ex[i].rule_points + pr.margin * cfg.model_points_per_logit);
          lab.push_back(ex[i].label);
          if (cvs) cvs << ex[i].path << '\t' << (ex[i].label ? "spam" : "ham") << '\t' << fold_name << '\t' << scores.back() << '\n';
        }
        pooled.insert(pooled.end(), scores.begin(), scores.end());
        pooled_label.insert(pooled_label.end(), lab.begin(), lab.end());
        Metrics m = metrics(scores, lab);
        std::printf("fold %s: n=%zu (ham %zu, spam %zu) AUC=%.6f 1-ROCA=%.4f%% FNR@FPR0.1%%=%.2f%% FNR@FPR0.01%%=%.2f%% rounds=%d\n",
                    fold_name.c_str(), te.size(), m.n_ham, m.n_spam, m.auc, (1 - m.auc) * 100, m.fnr_at_fpr_1e3 * 100,
                    m.fnr_at_fpr_1e4 * 100, ft.best_rounds);
        std::fflush(stdout);
        sum_auc += m.auc;
        sum_fnr3 += m.fnr_at_fpr_1e3;
        sum_fnr4 += m.fnr_at_fpr_1e4;
        folds_json.push_back({{"repeat", rep + 1}, {"fold", f + 1}, {"auc", m.auc}, {"fnr_at_fpr_0.1%", m.fnr_at_fpr_1e3},
                              {"fnr_at_fpr_0.01%", m.fnr_at_fpr_1e4}});
      }
    }
    double k = a.folds * repeats;
    std::printf("mean%s: AUC=%.6f 1-ROCA=%.4f%% FNR@FPR0.1%%=%.2f%% FNR@FPR0.01%%=%.2f%%\n",
                repeats > 1 ? (" of " + std::to_string(static_cast<int>(k)) + " folds").c_str() : "", sum_auc / k,
                (1 - sum_auc / k) * 100, sum_fnr3 / k * 100, sum_fnr4 / k * 100);
    auto sug = suggest_thresholds(pooled, pooled_label);
    std::printf("thresholds from %zu out-of-fold ham scores: tag %.1f (FPR %.3f%%, FNR %.2f%%), reject %.1f (FPR %.3f%%, FNR %.2f%%)\n",
                sug.n_ham, sug.tag, sug.tag_fpr * 100, sug.tag_fnr * 100, sug.reject, sug.reject_fpr * 100, sug.reject_fnr * 100);
    meta["cv"] = {{"folds", a.folds}, {"repeats", repeats}, {"per_fold", folds_json}, {"mean_auc", sum_auc / k},
                  {"mean_fnr_at_fpr_0.1%", sum_fnr3 / k}, {"mean_fnr_at_fpr_0.01%", sum_fnr4 / k},
                  {"suggested_thresholds", {{"tag", sug.tag}, {"reject", sug.reject}}}};
  }
  if (a.out.empty()) return 0;
  // The final fit has its own generator: the same --seed gives the same
  // model with or without cross-validation before it.
  std::mt19937_64 rng(static_cast<std::uint64_t>(a.seed));
  Fit final_fit = fit(ex, all, rf, p, rng, meta, cfg.model_points_per_logit);
  final_fit.model->save(a.out);
  auto total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "tamis train: wrote %s (%zu trees, %zu features) in %.1f s total\n", a.out.c_str(),
               final_fit.model->trees(), final_fit.model->feature_names().size(), total);
  return 0;
}

// ---- tamis eval ----

std::string fmt(double x, int prec = 2) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, x);
  return b;
}

std::string reasons_of(const engine::ScanResult& r) {
  std::string s;
  for (const auto& x : r.verdict.reasons) s += (s.empty() ? "" : ", ") + x.name + " " + fmt(x.points);
  return s;
}

// How often each enabled rule hits the ham and the spam of a labelled set, as
// SpamAssassin's hit-frequencies reports it: what a sysadmin checks before
// giving a rule more points. S/O is the spam share of the rule's hit rates.
struct RuleStat {
  std::string id;
  double score = 0;
  std::array<std::size_t, 2> hits{};  // ham, spam
  double ham_rate = 0, spam_rate = 0, s_o = -1;  // s_o -1: no hits
};

std::vector<RuleStat> rule_stats(const std::vector<rules::RuleSpec>& specs, const std::vector<engine::ScanResult>& res,
                                 const std::vector<int>& label, std::size_t n_ham, std::size_t n_spam) {
  std::vector<RuleStat> out;
  std::map<std::string, std::size_t> at;
  for (const auto& r : specs) {
    if (!r.enabled || at.count(r.id)) continue;
    at[r.id] = out.size();
    out.push_back({r.id, r.score, {}, 0, 0, -1});
  }
  for (std::size_t i = 0; i < res.size(); ++i)
    for (const auto& id : res[i].rule_hits)
      if (auto it = at.find(id); it != at.end()) out[it->second].hits[static_cast<std::size_t>(label[i] != 0)]++;
  for (auto& r : out) {
    r.ham_rate = n_ham ? static_cast<double>(r.hits[0]) / static_cast<double>(n_ham) : 0.0;
    r.spam_rate = n_spam ? static_cast<double>(r.hits[1]) / static_cast<double>(n_spam) : 0.0;
    if (r.ham_rate + r.spam_rate > 0) r.s_o = r.spam_rate / (r.ham_rate + r.spam_rate);
  }
  // False-positive risk first: most ham hits, then most spam hits, then id.
  std::sort(out.begin(), out.end(), [](const RuleStat& x, const RuleStat& y) {
    if (x.hits[0] != y.hits[0]) return x.hits[0] > y.hits[0];
    if (x.hits[1] != y.hits[1]) return x.hits[1] > y.hits[1];
    return x.id < y.id;
  });
  return out;
}

int run_eval(const TrainArgs& a, const std::string& config_path) {
  auto cfg = config::load_config(config_path.empty() ? config::default_config_path() : config_path);
  if (!a.model.empty()) cfg.model_path = a.model;
  auto specs = config::load_rules(cfg);
  std::shared_ptr<const model::Model> m;
  if (cfg.model_enabled) m = model::Model::load(cfg.model_path);
  auto snap = engine::Snapshot::from_parts(cfg, specs, m);
  auto labels = read_labels(a.labels, a.ham, a.spam);
  auto score_all = [&](const engine::Snapshot& s, bool warn) {
    std::vector<engine::ScanResult> out(labels.size());
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i; (i = next++) < labels.size();) {
        std::string raw;
        try {
          raw = load(labels[i], cfg.limits.max_scan_bytes);
        } catch (const std::exception& e) {
          if (warn) std::fprintf(stderr, "tamis: %s (vanished after listing; scored as empty)\n", e.what());
        }
        out[i] = engine::scan(s, raw, core::Envelope{});
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < std::max(1, a.threads); ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    return out;
  };
  auto res = score_all(*snap, true);
  // --against: the same mail through another model (typically the one in
  // use), to see which messages a new model would treat differently.
  std::vector<engine::ScanResult> before;
  if (!a.against.empty()) before = score_all(*engine::Snapshot::from_parts(cfg, specs, model::Model::load(a.against)), false);

  std::vector<double> score;
  std::vector<int> label;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    score.push_back(res[i].verdict.score);
    label.push_back(labels[i].label);
  }
  Metrics mt = metrics(score, label);
  // Thresholds that would meet the targets on this mail: a site can check the
  // shipped (or its own) model against a labelled sample of its mail before
  // deploying. Only fair on mail the model was not trained on.
  auto sug = suggest_thresholds(score, label);
  auto rate_at = [&](double thr, int want_label) {  // share of `want_label` on the wrong side of thr
    std::size_t n = 0, k = 0;
    for (std::size_t i = 0; i < score.size(); ++i) {
      if (label[i] != want_label) continue;
      ++n;
      k += want_label ? score[i] < thr : score[i] >= thr;
    }
    return n ? static_cast<double>(k) / static_cast<double>(n) : 0.0;
  };
  const auto& th = cfg.thresholds;
  auto action_of = [](const engine::ScanResult& r) {
    return r.verdict.failure.empty() ? std::string(core::action_name(r.verdict.action)) : "failure:" + r.verdict.failure;
  };
  std::map<std::string, std::array<std::size_t, 2>> confusion;  // action -> ham, spam
  for (std::size_t i = 0; i < res.size(); ++i) confusion[action_of(res[i])][static_cast<std::size_t>(label[i])]++;
  // Messages whose action differs from --against's: ham first (what a
  // sysadmin fears), then the largest score changes.
  std::vector<std::size_t> changed;
  std::map<std::tuple<int, std::string, std::string>, std::size_t> transitions;  // label, before, after -> count
  for (std::size_t i = 0; i < before.size(); ++i)
    if (action_of(before[i]) != action_of(res[i])) {
      changed.push_back(i);
      transitions[{label[i], action_of(before[i]), action_of(res[i])}]++;
    }
  std::sort(changed.begin(), changed.end(), [&](auto x, auto y) {
    if (label[x] != label[y]) return label[x] < label[y];
    return std::abs(res[x].verdict.score - before[x].verdict.score) > std::abs(res[y].verdict.score - before[y].verdict.score);
  });
  std::vector<std::size_t> fps, fns;
  for (std::size_t i = 0; i < res.size(); ++i) (label[i] ? fns : fps).push_back(i);
  std::sort(fps.begin(), fps.end(), [&](auto x, auto y) { return score[x] > score[y]; });
  std::sort(fns.begin(), fns.end(), [&](auto x, auto y) { return score[x] < score[y]; });
  fps.resize(std::min<std::size_t>(fps.size(), static_cast<std::size_t>(a.worst)));
  fns.resize(std::min<std::size_t>(fns.size(), static_cast<std::size_t>(a.worst)));
  auto explained = [&](std::size_t i) {  // the worst ones again, with model contributions
    engine::ScanOptions o;
    o.explain = engine::Explain::Always;
    return engine::scan(*snap, load(labels[i], cfg.limits.max_scan_bytes), core::Envelope{}, o);
  };

  if (!a.scores.empty()) {
    std::ofstream out(a.scores);
    for (std::size_t i = 0; i < res.size(); ++i)
      out << labels[i].name << '\t' << (label[i] ? "spam" : "ham") << '\t' << score[i] << '\t'
          << core::action_name(res[i].verdict.action) << '\n';
  }
  if (!a.plot.empty()) {
    // ROC: FPR (log scale) against TPR, one point per distinct score.
    std::vector<std::size_t> order(score.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto x, auto y) { return score[x] > score[y]; });
    std::string data = a.plot + ".dat";
    {
      std::ofstream d(data);
      double tp = 0, fp = 0;
      for (std::size_t k = 0; k < order.size(); ++k) {
        (label[order[k]] ? tp : fp) += 1;
        if (k + 1 == order.size() || score[order[k + 1]] != score[order[k]])
          d << std::max(fp / std::max<double>(1, static_cast<double>(mt.n_ham)), 1e-5) << ' '
            << tp / std::max<double>(1, static_cast<double>(mt.n_spam)) << '\n';
      }
    }
    std::string cmd = "gnuplot -e \"set terminal pngcairo size 900,650 noenhanced; set output '" + a.plot +
                      "'; set logscale x; set xrange [1e-5:1]; set yrange [0:1.001]; set grid; set key bottom right;"
                      " set xlabel 'false-positive rate (ham tagged)'; set ylabel 'true-positive rate (spam caught)';"
                      " set title 'tamis ROC, AUC " + fmt(mt.auc, 6) + "';"
                      " plot '" + data + "' using 1:2 with steps lw 2 title 'tamis'\" 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "tamis: gnuplot failed (is gnuplot installed? apt-get install gnuplot-nox)\n");
      return 1;
    }
    std::remove(data.c_str());
  }
  if (a.json) {
    json j;
    j["messages"] = {{"ham", mt.n_ham}, {"spam", mt.n_spam}};
    j["auc"] = mt.auc;
    j["one_minus_roca_percent"] = (1 - mt.auc) * 100;
    j["thresholds"] = {{"tag", th.tag}, {"reject", th.reject}};
    j["at_tag"] = {{"fpr", rate_at(th.tag, 0)}, {"fnr", rate_at(th.tag, 1)}};
    j["at_reject"] = {{"fpr", rate_at(th.reject, 0)}, {"fnr", rate_at(th.reject, 1)}};
    j["fnr_at_fpr_0.1%"] = mt.fnr_at_fpr_1e3;
    j["fnr_at_fpr_0.01%"] = mt.fnr_at_fpr_1e4;
    if (sug.n_ham)
      j["suggested_thresholds"] = {{"tag", {{"threshold", sug.tag}, {"fpr", sug.tag_fpr}, {"fnr", sug.tag_fnr}}},
                                   {"reject", {{"threshold", sug.reject}, {"fpr", sug.reject_fpr}, {"fnr", sug.reject_fnr}}},
                                   {"ham", sug.n_ham}};
    json conf = json::object();
    for (const auto& [act, c] : confusion) conf[act] = {{"ham", c[0]}, {"spam", c[1]}};
    j["actions"] = conf;
    json worst = {{"false_positives", json::array()}, {"false_negatives", json::array()}};
    for (auto i : fps) worst["false_positives"].push_back({{"path", labels[i].name}, {"score", score[i]}, {"reasons", reasons_of(explained(i))}});
    for (auto i : fns) worst["false_negatives"].push_back({{"path", labels[i].name}, {"score", score[i]}, {"reasons", reasons_of(explained(i))}});
    j["worst"] = worst;
    if (!a.against.empty()) {
      json tr = json::array(), msgs = json::array();
      for (const auto& [k, n] : transitions)
        tr.push_back({{"label", std::get<0>(k) ? "spam" : "ham"}, {"before", std::get<1>(k)}, {"after", std::get<2>(k)}, {"count", n}});
      for (auto i : changed)
        msgs.push_back({{"path", labels[i].name}, {"label", label[i] ? "spam" : "ham"}, {"before", action_of(before[i])},
                        {"after", action_of(res[i])}, {"score_before", before[i].verdict.score}, {"score_after", res[i].verdict.score}});
      j["against"] = {{"model", a.against}, {"changed", changed.size()}, {"transitions", tr}, {"messages", msgs}};
    }
    if (a.rules) {
      json rs = json::array();
      for (const auto& r : rule_stats(specs, res, label, mt.n_ham, mt.n_spam))
        rs.push_back({{"id", r.id}, {"score", r.score}, {"ham", r.hits[0]}, {"spam", r.hits[1]},
                      {"ham_rate", r.ham_rate}, {"spam_rate", r.spam_rate}, {"s_o", r.s_o < 0 ? json(nullptr) : json(r.s_o)}});
      j["rules"] = std::move(rs);
    }
    std::printf("%s\n", dump(j).c_str());
    return 0;
  }
  std::printf("messages: %zu ham, %zu spam (model %s)\n", mt.n_ham, mt.n_spam, m ? cfg.model_path.c_str() : "disabled");
  std::printf("ROC AUC %.6f   1-ROCA %.4f%%\n", mt.auc, (1 - mt.auc) * 100);
  std::printf("at tag    %5.2f: FPR %.3f%%  FNR %.2f%%\n", th.tag, rate_at(th.tag, 0) * 100, rate_at(th.tag, 1) * 100);
  std::printf("at reject %5.2f: FPR %.3f%%  FNR %.2f%%\n", th.reject, rate_at(th.reject, 0) * 100, rate_at(th.reject, 1) * 100);
  std::printf("FNR at FPR 0.1%%: %.2f%%   FNR at FPR 0.01%%: %.2f%%\n", mt.fnr_at_fpr_1e3 * 100, mt.fnr_at_fpr_1e4 * 100);
  if (sug.n_ham) {
    std::printf("thresholds for this mail (at most 0.1 %% / 0.01 %% of its ham at or above): tag %.1f (FPR %.3f%%, FNR %.2f%%), "
                "reject %.1f (FPR %.3f%%, FNR %.2f%%)\n",
                sug.tag, sug.tag_fpr * 100, sug.tag_fnr * 100, sug.reject, sug.reject_fpr * 100, sug.reject_fnr * 100);
    if (sug.n_ham < 10000)
      std::printf("  (%zu ham: fewer than 10,000, so the reject suggestion is just above the highest ham here; "
                  "keep a margin, and trust it only on mail the model was not trained on)\n",
                  sug.n_ham);
  }
  std::printf("\n%-24s %8s %8s\n", "action", "ham", "spam");
  for (const auto& [act, c] : confusion) std::printf("%-24s %8zu %8zu\n", act.c_str(), c[0], c[1]);
  std::printf("\nworst false positives (ham, highest scores):\n");
  for (auto i : fps) std::printf("  %7.2f  %s\n           %s\n", score[i], labels[i].name.c_str(), reasons_of(explained(i)).c_str());
  std::printf("worst false negatives (spam, lowest scores):\n");
  for (auto i : fns) std::printf("  %7.2f  %s\n           %s\n", score[i], labels[i].name.c_str(), reasons_of(explained(i)).c_str());
  if (!a.against.empty()) {
    std::printf("\nagainst %s: %zu of %zu messages change action\n", a.against.c_str(), changed.size(), res.size());
    for (const auto& [k, n] : transitions)
      std::printf("  %-5s %-10s -> %-10s %6zu\n", std::get<0>(k) ? "spam" : "ham", std::get<1>(k).c_str(), std::get<2>(k).c_str(), n);
    const std::size_t show = std::min<std::size_t>(changed.size(), 20);
    if (show) std::printf("  %s:\n", show < changed.size() ? "the first 20 (ham first, then the largest score changes; all with --json)" : "each");
    for (std::size_t k = 0; k < show; ++k) {
      auto i = changed[k];
      std::printf("    %-5s %-8s -> %-8s %7.2f -> %7.2f  %s\n", label[i] ? "spam" : "ham", action_of(before[i]).c_str(),
                  action_of(res[i]).c_str(), before[i].verdict.score, res[i].verdict.score, labels[i].name.c_str());
    }
  }
  if (a.rules) {
    std::printf("\nrules (most ham hits first: the false-positive risk):\n%-28s %7s %16s %16s %6s\n", "rule", "points", "ham hits",
                "spam hits", "S/O");
    for (const auto& r : rule_stats(specs, res, label, mt.n_ham, mt.n_spam))
      std::printf("%-28s %7.2f %6zu (%6.2f%%) %6zu (%6.2f%%) %6s\n", r.id.c_str(), r.score, r.hits[0], r.ham_rate * 100, r.hits[1],
                  r.spam_rate * 100, r.s_o < 0 ? "-" : fmt(r.s_o, 3).c_str());
  }
  return 0;
}

// ---- tamis explain ----

// The words behind tok_sum, tok_mean, tok_top_spam and tok_top_ham: each
// distinct token of the message with its weight in the model's token table
// (log-odds of spam against ham in the training mail), strongest first; and
// near_spam, the likeness to the most similar training spam.
void print_token_evidence(const model::Model& m, const features::Extracted& ex) {
  std::map<std::uint64_t, std::string> distinct;
  for (const auto& w : ex.token_words) {
    auto colon = w.find(':');
    distinct.emplace(features::token_hash(std::string_view(w).substr(0, colon + 1), std::string_view(w).substr(colon + 1)), w);
  }
  std::vector<std::pair<float, std::string>> spam, ham;
  for (const auto& [h, w] : distinct)
    if (const float* wt = m.token_table().weight.find(h)) (*wt > 0 ? spam : ham).emplace_back(*wt, w);
  std::sort(spam.begin(), spam.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  std::sort(ham.begin(), ham.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::printf("\ntoken statistics: %zu distinct tokens, %zu in the model's token table (%zu lean spam, %zu ham);\n"
              "strongest (log-odds of spam in the training mail; s: Subject, b: body, u: link domain, a: attachment type,\n"
              "m: mailer, id:/dt:/bd: shape of Message-ID/Date/boundary, ct: Content-Type, cs: charset, f: From domain, fn: From name):\n",
              distinct.size(), spam.size() + ham.size(), spam.size(), ham.size());
  const std::size_t n = 10;
  for (std::size_t k = 0; k < std::max(std::min(n, spam.size()), std::min(n, ham.size())); ++k) {
    std::string left = k < spam.size() && k < n ? fmt(spam[k].first, 2) + "  " + spam[k].second.substr(0, 30) : "";
    if (!left.empty() && left[0] != '-') left.insert(0, "+");
    std::printf("  %-40s", left.c_str());
    if (k < ham.size() && k < n) std::printf("%s  %s", fmt(ham[k].first, 2).c_str(), ham[k].second.substr(0, 30).c_str());
    std::printf("\n");
  }
  const auto& near = m.token_table().near;
  if (near.size() == 0) return;  // a model from before near_spam
  float like = near.nearest(model::NearIndex::signature(ex.tokens)).similarity;
  std::printf("\nlikeness to a known spam (near_spam): %.0f %% of the tokens' signature agrees with the closest of the\n"
              "model's %zu training spam; %s\n",
              like * 100.0, near.size(),
              like >= model::NearIndex::kSameCampaign ? "counted, as the same campaign"
                                                      : "below 70 %, not counted (a shared template at most)");
}

int run_explain(const TrainArgs& a, const std::string& config_path) {
  auto snap = load_snapshot(config_path);
  engine::ScanOptions o;
  o.explain = engine::Explain::Always;
  o.keep_row = true;
  o.keep_extracted = true;
  o.keep_token_words = true;
  auto r = engine::scan(*snap, read_message(a.file, snap->config.limits.max_scan_bytes), core::Envelope{}, o);
  const auto& v = r.verdict;
  const auto& th = snap->config.thresholds;
  std::printf("%s\n", a.file.c_str());
  std::printf("verdict: %s, score %.2f (tag at %.2f, reject at %.2f)%s\n", core::action_name(v.action), v.score, th.tag, th.reject,
              v.failure.empty() ? "" : (", scan failed: " + v.failure).c_str());
  std::printf("  = rule points %.2f + model points %.2f", v.rule_points, v.model_points);
  if (v.p_spam >= 0) std::printf("   (model p(spam) with the rules: %.4f)", 1 / (1 + std::exp(-v.score / std::max(1e-9, snap->config.model_points_per_logit))));
  std::printf("\n\nrules that hit:\n");
  if (r.rule_hits.empty()) std::printf("  (none)\n");
  for (const auto& id : r.rule_hits) {
    const auto& spec = snap->rules->rules()[static_cast<std::size_t>(snap->rules->find(id))];
    std::printf("  %+6.2f  %-28s %s\n", spec.score, id.c_str(), spec.description.c_str());
  }
  if (snap->model) {
    model::Prediction p;
    std::vector<std::pair<std::string, double>> contribs;
    if (snap->model->predict(r.row, true, p)) contribs = p.contributions;
    double sum = 0;
    for (const auto& [n, c] : contribs) sum += c;
    std::printf("\nmodel: the trees add %.2f points = baseline %.2f + the features' contributions;\n"
                "strongest features (points, the message's value):\n",
                v.model_points, (p.margin - sum) * snap->config.model_points_per_logit);
    const auto& names = snap->model->feature_names();
    for (std::size_t k = 0; k < contribs.size() && (a.explain_features == 0 || k < a.explain_features); ++k) {
      auto it = std::find(names.begin(), names.end(), contribs[k].first);
      double val = it == names.end() ? NAN : r.row[static_cast<std::size_t>(it - names.begin())];
      std::printf("  %+6.2f  %-28s = %s\n", contribs[k].second * snap->config.model_points_per_logit, contribs[k].first.c_str(),
                  std::isnan(val) ? "missing" : fmt(val, 3).c_str());
    }
  }
  if (snap->model && r.extracted) print_token_evidence(*snap->model, *r.extracted);
  std::printf("\nMIME anomalies: ");
  for (std::size_t i = 0; i < r.anomalies.size(); ++i) std::printf("%s%s", i ? ", " : "", r.anomalies[i].c_str());
  std::printf("%s\n", r.anomalies.empty() ? "none" : "");
  return 0;
}

}  // namespace

void add_train_commands(CLI::App& app, TrainArgs& a) {
  a.train = app.add_subcommand("train", "train a model from labelled mail");
  a.train->add_option("--labels", a.labels, "labels file(s): ham|spam<TAB>path (path relative to the file)");
  a.train->add_option("--ham", a.ham, "ham: Maildir(s), directories of message files, or mbox files");
  a.train->add_option("--spam", a.spam, "spam: Maildir(s), directories of message files, or mbox files");
  a.train->add_option("--out", a.out, "where to write the model (empty: cross-validate only)");
  a.train->add_option("--folds", a.folds, "stratified K-fold cross-validation before the final fit");
  a.train->add_option("--repeats", a.repeats,
                      "with --folds: repeat the cross-validation with seeds seed..seed+N-1; thresholds are suggested "
                      "from all the out-of-fold scores")
      ->check(CLI::Range(1, 100));
  a.train->add_option("--seed", a.seed, "random seed");
  a.train->add_option("--threads", a.threads, "threads for extraction and training");
  a.train->add_option("--rounds", a.rounds, "maximum boosting rounds (early stopping usually ends sooner)");
  a.train->add_option("--eta", a.eta, "learning rate");
  a.train->add_option("--max-depth", a.max_depth, "tree depth");
  a.train->add_option("--bags", a.bags, "boosters trained with seeds seed..seed+N-1 and averaged into the model")
      ->check(CLI::Range(1, 20));
  a.train->add_option("--token-splits", a.token_splits,
                      "inner splits for the training rows' token statistics: each message gives this many rows (near_spam in the first)")
      ->check(CLI::Range(1, 10));
  a.train->add_option("--xgb-param", a.xgb_params,
                      "KEY=VALUE: a further XGBoost parameter, set after tamis's own (e.g. max_bin=64; repeatable; "
                      "the keys allowed are listed when another is given)");
  a.train->add_option("--early-stopping", a.early_stopping, "stop after N rounds without gain on the validation part (0: train all --rounds)");
  a.eval = app.add_subcommand("eval", "score labelled mail with the full engine and report accuracy");
  a.eval->add_option("--labels", a.labels, "labels file(s): ham|spam<TAB>path");
  a.eval->add_option("--ham", a.ham, "ham: Maildir(s), directories or mbox files");
  a.eval->add_option("--spam", a.spam, "spam: Maildir(s), directories or mbox files");
  a.eval->add_option("--model", a.model, "model file (default: the config's)");
  a.eval->add_option("--scores", a.scores, "write path<TAB>label<TAB>score<TAB>action per message");
  a.eval->add_option("--plot", a.plot, "draw the ROC curve to this PNG (gnuplot)");
  a.eval->add_option("--worst", a.worst, "how many worst false positives/negatives to list");
  a.eval->add_option("--threads", a.threads, "threads");
  a.eval->add_flag("--json", a.json, "machine-readable output");
  a.eval->add_option("--against", a.against,
                      "also score with this model (e.g. the one in use) and list the messages whose action changes");
  a.eval->add_flag("--rules", a.rules, "per rule: its points and how many ham and spam it hits");
  a.explain = app.add_subcommand("explain", "why a message gets its score: rule hits and model contributions in points");
  a.explain->add_option("file", a.file, "message file")->required();
  a.explain->add_option("--features", a.explain_features, "how many model features to list, strongest first (0: all that contribute)")
      ->capture_default_str();
  a.train->add_option("--cv-scores", a.cv_scores, "with --folds: write path<TAB>label<TAB>fold<TAB>score of every held-out message");
}

int run_train_commands(CLI::App& app, TrainArgs& a, const std::string& config_path) {
  if (*a.train) return run_train(a, config_path);
  if (*a.eval) return run_eval(a, config_path);
  if (*a.explain) return run_explain(a, config_path);
  std::fprintf(stderr, "tamis: unknown command\n");
  return 2;
}

}  // namespace tamis::cli
