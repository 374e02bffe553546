// engine: the immutable Snapshot (config + compiled rules + model), the store
// that publishes it atomically, and scan(), the one entry point that the CLI,
// training, evaluation and tamisd all call.
//
//   SnapshotStore store(Snapshot::build("/etc/tamis/tamis.yaml"));
//   SnapshotPtr snap = store.acquire();          // pin for one message
//   ScanResult r = scan(*snap, raw, envelope);
//
// A Snapshot is immutable after build() and safe to share across threads.
// scan() never throws: internal errors become the configured failure action.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/types.hpp"
#include "features/features.hpp"
#include "model/model.hpp"
#include "policy/policy.hpp"
#include "rules/rules.hpp"

namespace tamis::engine {

struct Snapshot {
  config::Config config;
  std::shared_ptr<const rules::CompiledRules> rules;
  std::shared_ptr<const model::Model> model;  // null when disabled or unavailable
  std::vector<int> binding;                   // model rule features -> rule index
  std::string model_error;                    // why the model is unavailable
  // Not errors, but worth a sysadmin's eye (check-config prints them, tamisd
  // logs them at start and reload): a config limit that differs from the
  // one the model was trained with, so some messages give it other features.
  std::vector<std::string> warnings;
  policy::Policy policy;
  std::uint64_t generation = 0;
  bool rules_kept = false;  // build() took the compiled rules of `previous`
  bool model_kept = false;  // build() took the model of `previous`

  // Loads config, rules and model and validates them whole. Throws
  // core::ConfigError (file:line). With strict_model=false a model that fails
  // to load leaves `model` null and `model_error` set instead of throwing.
  // With `previous` (a reload), rules identical to its rules (same files,
  // lines, patterns, scores) keep its compiled rules, and a model file with
  // the bytes its model was loaded from keeps that model: a reload that
  // changes nothing builds no regex sets and parses no model, and the
  // rules' warm DFA caches carry over.
  static std::shared_ptr<const Snapshot> build(const std::string& config_path, bool strict_model = true,
                                               std::uint64_t generation = 1, const Snapshot* previous = nullptr);
  // For tests: a snapshot from parts already in memory.
  static std::shared_ptr<const Snapshot> from_parts(config::Config cfg, std::vector<rules::RuleSpec> specs,
                                                    std::shared_ptr<const model::Model> model, std::uint64_t generation = 1);
};
using SnapshotPtr = std::shared_ptr<const Snapshot>;

// Holds the current snapshot; publish() swaps it atomically. A scan pins the
// snapshot it acquired and finishes on it whatever is published meanwhile.
// A mutex, not std::atomic<shared_ptr>: libstdc++ 12's atomic<shared_ptr>
// unlocks its internal lock bit with a relaxed store after load(), so a
// reader's copy of the pointer and a writer's swap are not ordered under the
// C++ memory model (ThreadSanitizer reports it). One uncontended lock per
// message costs nothing measurable; the snapshot itself is immutable.
class SnapshotStore {
 public:
  explicit SnapshotStore(SnapshotPtr initial) : current_(std::move(initial)) {}
  SnapshotPtr acquire() const {
    std::lock_guard<std::mutex> lk(mu_);
    return current_;
  }
  void publish(SnapshotPtr next) {
    std::lock_guard<std::mutex> lk(mu_);
    current_.swap(next);
    // the old snapshot (now in `next`) is released outside the lock
  }

 private:
  mutable std::mutex mu_;
  SnapshotPtr current_;
};

struct StageTimes {
  std::uint32_t parse_us = 0, features_us = 0, rules_us = 0, model_us = 0, total_us = 0;
};

// When to compute the model's per-feature contributions (the "why" of a
// verdict). They cost a second, slower prediction, so by default only mail
// that is not simply accepted gets them.
enum class Explain { Never, NonAccept, Always };

struct ScanOptions {
  Explain explain = Explain::NonAccept;
  bool keep_row = false;       // keep the model's input row (training, eval)
  bool keep_extracted = false; // keep fields/urls (explain, tests)
  bool keep_token_words = false;  // with keep_extracted: the tokens as text (explain)
};

struct ScanResult {
  core::Verdict verdict;
  std::vector<std::string> rule_hits;   // ids, in rule order
  std::vector<std::string> anomalies;   // anomaly flag names
  StageTimes times;
  std::vector<float> row;               // with keep_row
  std::unique_ptr<features::Extracted> extracted;  // with keep_extracted
  std::string error;                    // internal error text, if any
};

ScanResult scan(const Snapshot& snap, std::string_view raw, const core::Envelope& env,
                const ScanOptions& opts = {});

// The hits a report shows (X-Spam-Status, `tamis scan`'s line): every rule
// hit except helpers (RuleSpec::helper), in rule order.
std::vector<std::string> reported_hits(const Snapshot& snap, const ScanResult& r);

// Parse + features only (training uses this before rules/model exist).
features::Extracted extract_only(std::string_view raw, const core::Envelope& env, const core::Limits& limits);

}  // namespace tamis::engine
