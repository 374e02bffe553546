#include <catch2/catch.hpp>

#include <cmath>

#include "policy/policy.hpp"

using namespace tamis;

namespace {
std::vector<rules::RuleSpec> specs() {
  std::vector<rules::RuleSpec> s(3);
  s[0].id = "A"; s[0].score = 2;
  s[1].id = "B"; s[1].score = 5;
  s[2].id = "HAMMY"; s[2].score = -3;
  return s;
}
rules::RuleHits hits(std::vector<std::size_t> h) {
  rules::RuleHits r;
  auto s = specs();
  for (auto i : h) r.points += s[i].score;
  r.hits = std::move(h);
  return r;
}
}  // namespace

TEST_CASE("policy: score is rule points plus model log-odds times points_per_logit", "[policy]") {
  policy::Policy p;
  p.points_per_logit = 2;
  model::Prediction pred;
  pred.margin = 1.5;
  pred.p_spam = 0.8;
  auto v = policy::decide(specs(), hits({0}), &pred, p);
  CHECK(v.rule_points == 2);
  CHECK(v.model_points == 3);
  CHECK(v.score == 5);
  CHECK(v.p_spam == 0.8);
}

TEST_CASE("policy: thresholds map scores to accept, tag and the reject action", "[policy]") {
  policy::Policy p;
  p.tag = 5;
  p.reject = 10;
  CHECK(policy::decide(specs(), hits({}), nullptr, p).action == core::Action::Accept);
  CHECK(policy::decide(specs(), hits({1}), nullptr, p).action == core::Action::Tag);          // exactly tag
  CHECK(policy::decide(specs(), hits({0, 1}), nullptr, p).action == core::Action::Tag);       // 7
  model::Prediction pred;
  pred.margin = 3;
  CHECK(policy::decide(specs(), hits({0, 1}), &pred, p).action == core::Action::Reject);      // 10
  p.reject_action = core::Action::Quarantine;
  CHECK(policy::decide(specs(), hits({0, 1}), &pred, p).action == core::Action::Quarantine);
  CHECK(policy::decide(specs(), hits({0, 1, 2}), &pred, p).action == core::Action::Tag);      // 7
}

TEST_CASE("policy: reasons are the strongest rule hits and model contributions, in points", "[policy]") {
  policy::Policy p;
  p.max_reasons = 3;
  model::Prediction pred;
  pred.margin = 0;
  pred.contributions = {{"url_count", 4.0}, {"tok_sum", -0.5}};
  auto v = policy::decide(specs(), hits({0, 1, 2}), &pred, p);
  REQUIRE(v.reasons.size() == 3);
  CHECK(v.reasons[0].name == "B");
  CHECK(v.reasons[1].name == "model:url_count");
  CHECK(v.reasons[2].name == "HAMMY");
}

TEST_CASE("policy: a NaN model output never decides a verdict", "[policy]") {
  policy::Policy p;
  model::Prediction pred;
  pred.margin = NAN;
  auto v = policy::decide(specs(), hits({}), &pred, p);
  CHECK(v.action == core::Action::Accept);
  CHECK(std::isfinite(v.score));
}

TEST_CASE("policy: action names round-trip", "[policy]") {
  for (auto a : {core::Action::Accept, core::Action::Tag, core::Action::Reject, core::Action::TempFail,
                 core::Action::Quarantine, core::Action::Discard})
    CHECK(core::parse_action(core::action_name(a)) == a);
  CHECK_FALSE(core::parse_action("bounce"));
}
