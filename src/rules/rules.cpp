#include "rules/rules.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <unordered_map>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace tamis::rules {
namespace {

// RE2 budget per set: compiled program and lazily built DFA cache. The DFA
// cache fills with the variety of mail seen, up to the budget, then RE2
// resets it. With the shipped rules over both corpora (8,026 messages) all
// sets together hold about 2 MB of DFA states and never reach a reset. That
// was 7-17 MB, reset over and over, while BODY_SHOUTING's {40,} shared the
// body set (see has_long_count): bench/run.sh rules stage mean 54-58 us and
// p99 735-783 us then, 17 us and 129-134 us now; peak RSS 65 MB then, 50 MB now.
// An input that runs a set out of DFA memory falls back to single patterns
// and raises regex_budget. 16 MB leaves room for a site's own rules.
constexpr int64_t kSetMaxMem = 16 << 20;

struct Node {
  enum Kind { Ident, Not, And, Or } kind;
  int rule = -1;  // for Ident
  std::vector<Node> kids;
};

// Recursive-descent parser for meta expressions. Depth is bounded so a
// hostile rule file cannot overflow the stack.
class MetaParser {
 public:
  MetaParser(const std::string& s, const std::unordered_map<std::string, int>& ids, const RuleSpec& spec)
      : s_(s), ids_(ids), spec_(spec) {}
  Node parse() {
    Node n = parse_or(0);
    skip();
    if (pos_ != s_.size()) fail("unexpected '" + s_.substr(pos_, 10) + "'");
    return n;
  }
  std::vector<int> refs;

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw core::ConfigError(spec_.file, spec_.line, "rule " + spec_.id + ": meta expression: " + why);
  }
  void skip() { while (pos_ < s_.size() && core::is_space(s_[pos_])) ++pos_; }
  bool eat(std::string_view tok) {
    skip();
    if (s_.compare(pos_, tok.size(), tok) == 0) { pos_ += tok.size(); return true; }
    return false;
  }
  Node parse_or(int depth) {
    Node left = parse_and(depth);
    if (!eat("||")) return left;
    Node n{Node::Or, -1, {}};
    n.kids.push_back(std::move(left));
    do n.kids.push_back(parse_and(depth)); while (eat("||"));
    return n;
  }
  Node parse_and(int depth) {
    Node left = parse_unary(depth);
    if (!eat("&&")) return left;
    Node n{Node::And, -1, {}};
    n.kids.push_back(std::move(left));
    do n.kids.push_back(parse_unary(depth)); while (eat("&&"));
    return n;
  }
  Node parse_unary(int depth) {
    if (depth > 64) fail("nested too deeply");
    if (eat("!")) {
      Node n{Node::Not, -1, {}};
      n.kids.push_back(parse_unary(depth + 1));
      return n;
    }
    if (eat("(")) {
      Node n = parse_or(depth + 1);
      if (!eat(")")) fail("missing ')'");
      return n;
    }
    skip();
    std::size_t start = pos_;
    while (pos_ < s_.size() && (core::is_alnum(s_[pos_]) || s_[pos_] == '_' || s_[pos_] == '.' || s_[pos_] == '-'))
      ++pos_;
    if (start == pos_) fail(pos_ < s_.size() ? "unexpected '" + std::string(1, s_[pos_]) + "'" : "expression ends too early");
    std::string id = s_.substr(start, pos_ - start);
    auto it = ids_.find(id);
    if (it == ids_.end()) fail("unknown rule id '" + id + "'");
    refs.push_back(it->second);
    return Node{Node::Ident, it->second, {}};
  }
  const std::string& s_;
  const std::unordered_map<std::string, int>& ids_;
  const RuleSpec& spec_;
  std::size_t pos_ = 0;
};

bool eval_node(const Node& n, const std::vector<char>& hit) {
  switch (n.kind) {
    case Node::Ident: return hit[static_cast<std::size_t>(n.rule)] != 0;
    case Node::Not: return !eval_node(n.kids[0], hit);
    case Node::And:
      for (const auto& k : n.kids) if (!eval_node(k, hit)) return false;
      return true;
    case Node::Or:
      for (const auto& k : n.kids) if (eval_node(k, hit)) return true;
      return false;
  }
  return false;
}

std::string with_flags(const RuleSpec& r) {
  std::string prefix;
  for (char c : r.flags) {
    if (c != 'i' && c != 'm' && c != 's')
      throw core::ConfigError(r.file, r.line, "rule " + r.id + ": unknown flag '" + std::string(1, c) + "' (use i, m, s)");
    if (prefix.find(c) == std::string::npos) prefix.push_back(c);
  }
  return prefix.empty() ? r.pattern : "(?" + prefix + ")" + r.pattern;
}

// True if the pattern has a counted repetition of `limit` or more ({40},
// {5,60}, {40,}). Such a pattern multiplies the DFA states of every pattern
// it shares a set with (each count position times every other pattern's
// state), so it is given a set of its own. Measured on the shipped body set
// over both corpora: 4.7 MB of DFA states with BODY_SHOUTING inside, 0.5 MB
// plus 20 KB with it apart.
bool has_long_count(std::string_view pat, int limit = 10) {
  bool in_class = false;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    char c = pat[i];
    if (c == '\\') { ++i; continue; }
    if (in_class) { if (c == ']') in_class = false; continue; }
    if (c == '[') {
      in_class = true;
      if (i + 1 < pat.size() && pat[i + 1] == '^') ++i;
      if (i + 1 < pat.size() && pat[i + 1] == ']') ++i;  // a literal ] first in a class
      continue;
    }
    if (c != '{') continue;
    long n = 0;
    bool digits = false;
    for (std::size_t k = i + 1; k < pat.size(); ++k) {
      char d = pat[k];
      if (d >= '0' && d <= '9') {
        n = std::min<long>(n * 10 + (d - '0'), 100000);
        digits = true;
      } else if (d == ',') {
        if (digits && n >= limit) return true;
        n = 0;
        digits = false;
      } else {
        if (d == '}' && digits && n >= limit) return true;
        break;
      }
    }
  }
  return false;
}

}  // namespace

struct CompiledRules::Impl {
  struct TargetSet {
    std::string target;
    std::unique_ptr<RE2::Set> set;
    std::vector<std::size_t> rule_of;           // set index -> rule index
    std::vector<std::unique_ptr<RE2>> singles;  // fallback when the set runs out of memory
  };
  std::vector<TargetSet> sets;
  std::vector<std::pair<std::size_t, Node>> metas;  // in evaluation order
  std::unordered_map<std::string, int> ids;
};

CompiledRules::CompiledRules() : impl_(std::make_unique<Impl>()) {}
CompiledRules::~CompiledRules() = default;

std::size_t CompiledRules::set_count() const { return impl_->sets.size(); }

int CompiledRules::find(const std::string& id) const {
  auto it = impl_->ids.find(id);
  return it == impl_->ids.end() ? -1 : it->second;
}

std::shared_ptr<const CompiledRules> CompiledRules::build(std::vector<RuleSpec> specs) {
  std::shared_ptr<CompiledRules> cr(new CompiledRules());
  Impl& im = *cr->impl_;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& r = specs[i];
    if (r.id.empty()) throw core::ConfigError(r.file, r.line, "rule without an id");
    for (char c : r.id)
      if (!(core::is_alnum(c) || c == '_' || c == '.' || c == '-'))
        throw core::ConfigError(r.file, r.line, "rule id '" + r.id + "': use letters, digits, _ . -");
    auto [it, fresh] = im.ids.emplace(r.id, static_cast<int>(i));
    if (!fresh) {
      const auto& first = specs[static_cast<std::size_t>(it->second)];
      throw core::ConfigError(r.file, r.line,
                              "duplicate rule id '" + r.id + "' (first defined at " + first.file + ":" + std::to_string(first.line) + ")");
    }
  }
  std::map<std::string, std::size_t> set_of_target;
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(kSetMaxMem);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& r = specs[i];
    if (!r.meta.empty()) {
      if (!r.pattern.empty() || !r.target.empty())
        throw core::ConfigError(r.file, r.line, "rule " + r.id + ": a meta rule has no target or pattern");
      continue;
    }
    if (r.target.empty()) throw core::ConfigError(r.file, r.line, "rule " + r.id + ": missing target");
    if (!features::known_target(r.target))
      throw core::ConfigError(r.file, r.line, "rule " + r.id + ": unknown target '" + r.target + "'");
    if (r.pattern.empty()) throw core::ConfigError(r.file, r.line, "rule " + r.id + ": missing pattern");
    std::string pat = with_flags(r);
    auto single = std::make_unique<RE2>(pat, opts);
    if (!single->ok())
      throw core::ConfigError(r.file, r.line, "rule " + r.id + ": bad pattern: " + single->error());
    if (!r.enabled) continue;
    std::string target = r.target;
    if (target.starts_with("header:"))
      for (std::size_t k = 7; k < target.size(); ++k) target[k] = core::to_lower(target[k]);
    // One set per target, except that a pattern with a long count gets its own.
    std::string key = has_long_count(r.pattern) ? target + '\n' + r.id : target;
    auto [sit, added] = set_of_target.emplace(key, im.sets.size());
    if (added) {
      Impl::TargetSet ts;
      ts.target = target;
      ts.set = std::make_unique<RE2::Set>(opts, RE2::UNANCHORED);
      im.sets.push_back(std::move(ts));
    }
    auto& ts = im.sets[sit->second];
    std::string err;
    if (ts.set->Add(pat, &err) < 0) throw core::ConfigError(r.file, r.line, "rule " + r.id + ": bad pattern: " + err);
    ts.rule_of.push_back(i);
    ts.singles.push_back(std::move(single));
  }
  for (auto& ts : im.sets)
    if (!ts.set->Compile())
      throw core::ConfigError("", 0, "rules for target '" + ts.target + "' exceed the regex memory budget");

  // Meta rules: parse, then order so every meta runs after the metas it names.
  std::map<std::size_t, std::pair<Node, std::vector<int>>> parsed;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].meta.empty()) continue;
    MetaParser p(specs[i].meta, im.ids, specs[i]);
    Node n = p.parse();
    parsed.emplace(i, std::make_pair(std::move(n), std::move(p.refs)));
  }
  std::vector<int> state(specs.size(), 0);  // 0 new, 1 visiting, 2 done
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    if (state[i] == 2) return;
    if (state[i] == 1)
      throw core::ConfigError(specs[i].file, specs[i].line, "rule " + specs[i].id + ": meta rules form a cycle");
    state[i] = 1;
    for (int ref : parsed[i].second)
      if (parsed.count(static_cast<std::size_t>(ref))) visit(static_cast<std::size_t>(ref));
    state[i] = 2;
    im.metas.emplace_back(i, parsed[i].first);
  };
  for (auto& [i, _] : parsed) visit(i);
  cr->specs_ = std::move(specs);
  return cr;
}

RuleHits CompiledRules::evaluate(const features::Fields& fields) const {
  RuleHits out;
  std::vector<char> hit(specs_.size(), 0);
  std::vector<int> matches;
  for (const auto& ts : impl_->sets) {
    const std::vector<std::string>* values = fields.get(ts.target);
    if (!values) continue;
    for (const auto& v : *values) {
      matches.clear();
      RE2::Set::ErrorInfo info;
      if (ts.set->Match(v, &matches, &info)) {
        for (int m : matches) hit[ts.rule_of[static_cast<std::size_t>(m)]] = 1;
      } else if (info.kind != RE2::Set::kNoError) {
        // Out of DFA memory on this input: not "no match". Try each pattern alone.
        out.regex_budget = true;
        for (std::size_t k = 0; k < ts.singles.size(); ++k)
          if (RE2::PartialMatch(v, *ts.singles[k])) hit[ts.rule_of[k]] = 1;
      }
    }
  }
  for (const auto& [i, node] : impl_->metas)
    if (specs_[i].enabled) hit[i] = eval_node(node, hit) ? 1 : 0;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (!hit[i] || !specs_[i].enabled) continue;
    out.hits.push_back(i);
    out.points += specs_[i].score;
  }
  return out;
}

}  // namespace tamis::rules
