#include "engine/engine.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "mime/message.hpp"

namespace tamis::engine {
namespace {

using Clock = std::chrono::steady_clock;

std::uint32_t us_since(Clock::time_point t0) {
  return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
}

policy::Policy policy_of(const config::Config& c) {
  policy::Policy p;
  p.tag = c.thresholds.tag;
  p.reject = c.thresholds.reject;
  p.reject_action = c.reject_action;
  p.points_per_logit = c.model_points_per_logit;
  return p;
}

// Builds the snapshot while it is still mutable; callers publish it const.
std::shared_ptr<Snapshot> assemble(config::Config cfg, std::shared_ptr<const rules::CompiledRules> rules,
                                   std::shared_ptr<const model::Model> model, std::uint64_t generation) {
  auto s = std::make_shared<Snapshot>();
  s->rules = std::move(rules);
  s->model = std::move(model);
  if (s->model) s->binding = s->model->bind(*s->rules);
  s->policy = policy_of(cfg);
  s->config = std::move(cfg);
  s->generation = generation;
  return s;
}

// A model records the size limits of the config it was trained with (files
// written before that record none, and are not checked), and the tokenizer.
std::vector<std::string> model_warnings(const config::Config& cfg, const model::Model& m) {
  std::vector<std::string> out;
  if (m.tokenizer() != features::kTokenizerVersion)
    out.push_back("the model " + cfg.model_path + " was trained with tokenizer " + std::to_string(m.tokenizer()) +
                  " and is fed that tokenizer's tokens, text statistics and hop counts, so it scores as before; retrain it (`tamis train`) to "
                  "read mail with this build's tokenizer " + std::to_string(features::kTokenizerVersion));
  auto meta = nlohmann::json::parse(m.meta_json(), nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object() || !meta.contains("limits") || !meta["limits"].is_object()) return out;
  const auto& trained = meta["limits"];
  for (const auto& [name, member] : core::kSizeLimits) {
    if (!trained.contains(name) || !trained[name].is_number_unsigned()) continue;
    auto t = trained[name].get<std::size_t>();
    std::size_t value = cfg.limits.*member;
    if (t == value) continue;
    out.push_back("limits." + std::string(name) + " is " + std::to_string(value) + " but the model " + cfg.model_path +
                  " was trained with " + std::to_string(t) + ": messages past either limit give the model other features "
                  "than it learnt from (retrain with this config, or set it back)");
  }
  return out;
}

}  // namespace

std::shared_ptr<const Snapshot> Snapshot::from_parts(config::Config cfg, std::vector<rules::RuleSpec> specs,
                                                     std::shared_ptr<const model::Model> model, std::uint64_t generation) {
  return assemble(std::move(cfg), rules::CompiledRules::build(std::move(specs)), std::move(model), generation);
}

std::shared_ptr<const Snapshot> Snapshot::build(const std::string& config_path, bool strict_model, std::uint64_t generation,
                                                const Snapshot* previous) {
  config::Config cfg = config::load_config(config_path);
  auto specs = config::load_rules(cfg);
  std::shared_ptr<const rules::CompiledRules> compiled;
  bool rules_kept = previous && previous->rules && previous->rules->rules() == specs;
  compiled = rules_kept ? previous->rules : rules::CompiledRules::build(std::move(specs));
  std::shared_ptr<const model::Model> model;
  std::string model_error;
  bool model_kept = false;
  if (cfg.model_enabled) {
    if (previous && previous->model && !previous->model->source_digest().empty() &&
        previous->config.model_path == cfg.model_path &&
        model::Model::file_digest(cfg.model_path) == previous->model->source_digest()) {
      model = previous->model;
      model_kept = true;
    } else {
      try {
        model = model::Model::load(cfg.model_path);
      } catch (const core::ConfigError& e) {
        if (strict_model) throw;
        model_error = e.what();
      }
    }
  }
  auto snap = assemble(std::move(cfg), std::move(compiled), std::move(model), generation);
  snap->model_error = std::move(model_error);
  if (snap->model) snap->warnings = model_warnings(snap->config, *snap->model);
  snap->rules_kept = rules_kept;
  snap->model_kept = model_kept;
  return snap;
}

std::vector<std::string> reported_hits(const Snapshot& snap, const ScanResult& r) {
  std::vector<std::string> out;
  for (const auto& id : r.rule_hits) {
    int i = snap.rules ? snap.rules->find(id) : -1;
    if (i < 0 || !snap.rules->rules()[static_cast<std::size_t>(i)].helper()) out.push_back(id);
  }
  return out;
}

features::Extracted extract_only(std::string_view raw, const core::Envelope& env, const core::Limits& limits) {
  core::Deadline dl(limits.scan_timeout);
  auto msg = mime::parse(raw, limits, dl);
  return features::extract(msg, env, limits, dl);
}

ScanResult scan(const Snapshot& snap, std::string_view raw, const core::Envelope& env, const ScanOptions& opts) {
  ScanResult r;
  const auto& cfg = snap.config;
  auto t_all = Clock::now();
  auto fail = [&](core::Action a, const char* why) {
    r.verdict.action = a;
    r.verdict.failure = why;
  };
  try {
    core::Deadline dl(cfg.limits.scan_timeout);
    auto t0 = Clock::now();
    mime::ParsedMessage msg = mime::parse(raw, cfg.limits, dl);
    r.times.parse_us = us_since(t0);

    t0 = Clock::now();
    auto ex = std::make_unique<features::Extracted>(features::extract(msg, env, cfg.limits, dl, opts.keep_token_words,
                                                                       snap.model ? snap.model->tokenizer() : 0));
    r.times.features_us = us_since(t0);

    t0 = Clock::now();
    rules::RuleHits hits = snap.rules->evaluate(ex->fields);
    r.times.rules_us = us_since(t0);
    if (hits.regex_budget) msg.flag(mime::Anomaly::RegexBudget);
    for (std::size_t i : hits.hits) r.rule_hits.push_back(snap.rules->rules()[i].id);

    model::Prediction pred;
    bool have_pred = false;
    if (snap.model) {
      t0 = Clock::now();
      auto row = snap.model->row(*ex, hits, snap.binding);
      std::string err;
      have_pred = snap.model->predict(row, opts.explain == Explain::Always, pred, &err);
      if (have_pred && opts.explain == Explain::NonAccept) {
        auto v = policy::decide(snap.rules->rules(), hits, &pred, snap.policy);
        if (v.action != core::Action::Accept) have_pred = snap.model->predict(row, true, pred, &err);
      }
      if (!have_pred) r.error = "model: " + err;
      if (opts.keep_row) r.row = std::move(row);
      r.times.model_us = us_since(t0);
    }
    r.verdict = policy::decide(snap.rules->rules(), hits, have_pred ? &pred : nullptr, snap.policy);
    if (dl.expired()) msg.flag(mime::Anomaly::ScanTimeout);
    if (ex->url_limit_hit) msg.flag(mime::Anomaly::UrlLimit);
    for (std::size_t i = 0; i < mime::kAnomalyCount; ++i)
      if (msg.anomalies.test(i)) r.anomalies.emplace_back(mime::anomaly_name(static_cast<mime::Anomaly>(i)));

    // Failure policy, most specific first. A scan that ran out of time has
    // skipped stages: its score is not to be trusted either way.
    if (msg.has(mime::Anomaly::ScanTimeout)) fail(cfg.failure.scan_timeout, "scan_timeout");
    else if (cfg.model_enabled && !snap.model) fail(cfg.failure.model_unavailable, "model_unavailable");
    else if (snap.model && !have_pred) fail(cfg.failure.internal_error, "internal_error");
    if (opts.keep_extracted) r.extracted = std::move(ex);
  } catch (const std::exception& e) {
    r.error = e.what();
    fail(cfg.failure.internal_error, "internal_error");
  } catch (...) {
    r.error = "unknown exception";
    fail(cfg.failure.internal_error, "internal_error");
  }
  r.times.total_us = us_since(t_all);
  return r;
}

}  // namespace tamis::engine
