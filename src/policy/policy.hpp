// policy: a pure function from rule hits + model output + thresholds to a
// verdict. No I/O, no clocks, no state: the same inputs always give the same
// verdict, so it is tested exhaustively and shared by CLI, daemon and eval.
//
//   Verdict v = tamis::policy::decide(rules->rules(), hits, &prediction, policy);
#pragma once

#include <vector>

#include "core/types.hpp"
#include "model/model.hpp"
#include "rules/rules.hpp"

namespace tamis::policy {

struct Policy {
  double tag = 3.5;
  double reject = 6.5;
  core::Action reject_action = core::Action::Reject;
  double points_per_logit = 1.0;  // model points = margin * points_per_logit
  std::size_t max_reasons = 8;
};

// `pred` may be null (no model): the score is then rule points alone.
core::Verdict decide(const std::vector<rules::RuleSpec>& specs, const rules::RuleHits& hits,
                     const model::Prediction* pred, const Policy& policy);

// Action for a score alone (used by decide and by eval's threshold tables).
core::Action action_for(double score, const Policy& policy);

}  // namespace tamis::policy
