// rules: regex rules over named fields, compiled once into one RE2::Set per
// target so every field is scanned once whatever the number of rules, plus
// meta rules that combine rule ids with &&, ||, ! and parentheses.
//
//   auto rules = tamis::rules::CompiledRules::build(specs);   // throws ConfigError
//   RuleHits hits = rules->evaluate(extracted.fields);
//
// CompiledRules is immutable after build() and safe to share across threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "features/features.hpp"

namespace tamis::rules {

struct RuleSpec {
  std::string id;
  std::string description;
  std::string target;    // a field name (features::known_target); empty for meta rules
  std::string pattern;   // RE2 syntax
  std::string flags;     // letters: i (ignore case), m (multi-line ^$), s (. matches \n)
  std::string meta;      // "A && (B || !C)"; non-empty makes this a meta rule
  std::string group;
  double score = 0;
  bool enabled = true;
  bool model_feature = true;  // false: `tamis train` does not give its hits to the model
  std::string file;      // where it was defined, for errors
  int line = 0;
  // A helper: no points and no model feature. It exists only for the meta
  // rules that name it, so X-Spam-Status does not list it (SpamAssassin
  // hides its __ sub-rules the same way); `tamis explain` still shows it.
  bool helper() const { return score == 0 && !model_feature; }
  bool operator==(const RuleSpec&) const = default;
};

struct RuleHits {
  std::vector<std::size_t> hits;  // indices into CompiledRules::rules(), in rule order
  double points = 0;              // sum of the enabled hit rules' scores
  bool regex_budget = false;      // a set ran out of memory; single patterns were used
};

class CompiledRules {
 public:
  // Validates and compiles every rule. Throws core::ConfigError naming the
  // rule's file:line for a bad pattern, an unknown target, a meta rule naming
  // an unknown id or forming a cycle, or a duplicate id. Disabled rules are
  // compiled too (so a typo is caught) but never hit.
  static std::shared_ptr<const CompiledRules> build(std::vector<RuleSpec> specs);
  ~CompiledRules();
  // Not copyable: compiled sets are expensive; share the pointer.
  CompiledRules(const CompiledRules&) = delete;
  CompiledRules& operator=(const CompiledRules&) = delete;

  RuleHits evaluate(const features::Fields& fields) const;
  const std::vector<RuleSpec>& rules() const { return specs_; }
  // How many RE2 sets the patterns were compiled into: one per target, plus
  // one for each pattern with a long counted repetition.
  std::size_t set_count() const;
  // Index of a rule id, or -1.
  int find(const std::string& id) const;

 private:
  CompiledRules();
  struct Impl;
  std::vector<RuleSpec> specs_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tamis::rules
