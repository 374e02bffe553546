#include "policy/policy.hpp"

#include <algorithm>
#include <cmath>

namespace tamis::core {

const char* action_name(Action a) {
  switch (a) {
    case Action::Accept: return "accept";
    case Action::Tag: return "tag";
    case Action::Reject: return "reject";
    case Action::TempFail: return "tempfail";
    case Action::Quarantine: return "quarantine";
    case Action::Discard: return "discard";
  }
  return "accept";
}

std::optional<Action> parse_action(const std::string& s) {
  for (Action a : {Action::Accept, Action::Tag, Action::Reject, Action::TempFail, Action::Quarantine, Action::Discard})
    if (s == action_name(a)) return a;
  return std::nullopt;
}

}  // namespace tamis::core

namespace tamis::policy {

core::Action action_for(double score, const Policy& p) {
  if (score >= p.reject) return p.reject_action;
  if (score >= p.tag) return core::Action::Tag;
  return core::Action::Accept;
}

core::Verdict decide(const std::vector<rules::RuleSpec>& specs, const rules::RuleHits& hits,
                     const model::Prediction* pred, const Policy& p) {
  core::Verdict v;
  v.rule_points = hits.points;
  for (std::size_t i : hits.hits) v.reasons.push_back({specs[i].id, specs[i].score});
  if (pred) {
    v.p_spam = pred->p_spam;
    v.model_points = pred->margin * p.points_per_logit;
    for (const auto& [name, c] : pred->contributions) v.reasons.push_back({"model:" + name, c * p.points_per_logit});
  }
  v.score = v.rule_points + v.model_points;
  if (!std::isfinite(v.score)) v.score = 0;  // never let a NaN decide
  v.action = action_for(v.score, p);
  std::stable_sort(v.reasons.begin(), v.reasons.end(),
                   [](const core::Reason& a, const core::Reason& b) { return std::abs(a.points) > std::abs(b.points); });
  if (v.reasons.size() > p.max_reasons) v.reasons.resize(p.max_reasons);
  return v;
}

}  // namespace tamis::policy
