#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "core/error.hpp"
#include "rules/rules.hpp"
#include "support.hpp"

using namespace tamis;
using rules::RuleSpec;

namespace {
RuleSpec R(std::string id, std::string target, std::string pattern, double score = 1, std::string flags = "") {
  RuleSpec r;
  r.id = std::move(id);
  r.target = std::move(target);
  r.pattern = std::move(pattern);
  r.score = score;
  r.flags = std::move(flags);
  r.file = "pack.yaml";
  r.line = 7;
  return r;
}
RuleSpec M(std::string id, std::string meta, double score = 1) {
  RuleSpec r;
  r.id = std::move(id);
  r.meta = std::move(meta);
  r.score = score;
  r.file = "pack.yaml";
  r.line = 9;
  return r;
}
std::vector<std::string> ids(const rules::CompiledRules& cr, const rules::RuleHits& h) {
  std::vector<std::string> out;
  for (auto i : h.hits) out.push_back(cr.rules()[i].id);
  return out;
}
std::string error_of(std::vector<RuleSpec> specs) {
  try {
    rules::CompiledRules::build(std::move(specs));
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("rules: patterns on one target are matched in one set, with flags", "[rules]") {
  auto cr = rules::CompiledRules::build({R("A", "subject", "free", 1, "i"), R("B", "subject", "^Money"), R("C", "body", "x+y")});
  features::Fields f;
  f.add("subject", "FREE Money");
  f.add("body", "xxxy");
  auto h = cr->evaluate(f);
  CHECK(ids(*cr, h) == std::vector<std::string>{"A", "C"});
  CHECK(h.points == 2);
}

TEST_CASE("rules: a pattern with a long count gets a set of its own and still hits", "[rules]") {
  // {40}, {5,60} and {12,} each multiply the DFA of a shared set; {3} and
  // escaped or in-class braces do not count.
  auto cr = rules::CompiledRules::build({R("A", "body", "free", 1, "i"), R("B", "body", "[A-Z ]{40}"),
                                         R("C", "body", "x{5,60}y"), R("D", "body", "z{12,}"), R("E", "body", "q{3}"),
                                         R("F", "body", "\\{99\\}"), R("G", "body", "[{]99}")});
  CHECK(cr->set_count() == 4);  // A E F G together; B, C and D alone
  features::Fields f;
  f.add("body", "Free " + std::string(45, 'A') + " xxxxxy zzzzzzzzzzzzz qqq {99} {99}");
  CHECK(ids(*cr, cr->evaluate(f)) == std::vector<std::string>{"A", "B", "C", "D", "E", "F", "G"});
  features::Fields g;
  g.add("body", std::string(38, 'A') + " xxxxy zzzzzzzzzzz qq");
  CHECK(ids(*cr, cr->evaluate(g)).empty());
}

TEST_CASE("rules: multi-valued fields hit when any value matches", "[rules]") {
  auto cr = rules::CompiledRules::build({R("IP", "url_host", "^\\d+\\.\\d+\\.\\d+\\.\\d+$")});
  features::Fields f;
  f.add("url_host", "example.com");
  f.add("url_host", "192.0.2.1");
  CHECK(ids(*cr, cr->evaluate(f)) == std::vector<std::string>{"IP"});
}

TEST_CASE("rules: header targets match the named header whatever its case", "[rules]") {
  auto cr = rules::CompiledRules::build({R("XM", "header:X-Mailer", "bulk", 2, "i")});
  features::Fields f;
  f.add("header:x-mailer", "Bulk Mailer 3");
  CHECK(cr->evaluate(f).points == 2);
}

TEST_CASE("rules: meta rules combine ids with && || ! and parentheses", "[rules]") {
  auto cr = rules::CompiledRules::build({R("A", "body", "a"), R("B", "body", "b"), R("C", "body", "c"),
                                         M("M1", "A && (B || !C)", 5), M("M2", "M1 && !B", 3)});
  auto run = [&](const std::string& body) {
    features::Fields f;
    f.add("body", body);
    return ids(*cr, cr->evaluate(f));
  };
  CHECK(run("a") == std::vector<std::string>{"A", "M1", "M2"});
  CHECK(run("ab") == std::vector<std::string>{"A", "B", "M1"});
  CHECK(run("ac") == std::vector<std::string>{"A", "C"});
  CHECK(run("") == std::vector<std::string>{});
}

TEST_CASE("rules: a disabled rule never hits and metas see it as false", "[rules]") {
  auto a = R("A", "body", "a");
  a.enabled = false;
  auto cr = rules::CompiledRules::build({a, M("M", "A || !A", 1)});
  features::Fields f;
  f.add("body", "a");
  CHECK(ids(*cr, cr->evaluate(f)) == std::vector<std::string>{"M"});
}

TEST_CASE("rules: a bad pattern fails the whole pack with file:line", "[rules]") {
  auto err = error_of({R("GOOD", "body", "ok"), R("BAD", "body", "(unclosed")});
  CHECK(err.find("pack.yaml:7") != std::string::npos);
  CHECK(err.find("BAD") != std::string::npos);
  CHECK(err.find("bad pattern") != std::string::npos);
}

TEST_CASE("rules: an unknown target, unknown flag, unknown meta id, cycle or duplicate id is refused", "[rules]") {
  CHECK(error_of({R("A", "bodyy", "x")}).find("unknown target 'bodyy'") != std::string::npos);
  CHECK(error_of({R("A", "body", "x", 1, "q")}).find("unknown flag") != std::string::npos);
  CHECK(error_of({M("M", "NOPE && X")}).find("unknown rule id 'NOPE'") != std::string::npos);
  CHECK(error_of({M("M1", "M2"), M("M2", "M1")}).find("cycle") != std::string::npos);
  CHECK(error_of({M("M", "(A")}).find("meta expression") != std::string::npos);
  auto dup = error_of({R("A", "body", "x"), R("A", "subject", "y")});
  CHECK(dup.find("duplicate rule id 'A'") != std::string::npos);
}

TEST_CASE("rules: a pathological pattern runs in linear time (RE2 has no backtracking)", "[rules]") {
  // (a+)+$ takes exponential time in backtracking engines on "aaaa...b".
  auto cr = rules::CompiledRules::build({R("EVIL", "body", "(a+)+$"), R("EVIL2", "body", "(x|x)*y")});
  features::Fields f;
  f.add("body", std::string(200000, 'a') + "b");
  f.add("body", std::string(200000, 'x'));
  auto h = cr->evaluate(f);
  CHECK(h.hits.empty());
}

TEST_CASE("rules: a YAML pack error names the file and the line", "[rules][config]") {
  test::TempDir d;
  auto file = d.write("p.yaml", "rules:\n  - id: A\n    target: body\n    pattern: x\n    score: 1\n  - id: B\n    target: body\n    patern: y\n    score: 1\n");
  std::vector<RuleSpec> out;
  try {
    config::load_rule_file(file, out, false, nullptr);
    FAIL("no error");
  } catch (const core::ConfigError& e) {
    CHECK(std::string(e.what()).find(file + ":8") != std::string::npos);
    CHECK(std::string(e.what()).find("unknown key 'patern'") != std::string::npos);
  }
}

// Found by fuzz_rules/fuzz_config: a YAML key that is itself a list or a
// mapping made yaml-cpp throw BadConversion, which escaped without file:line.
TEST_CASE("rules/config: a key that is a list or mapping is refused with file:line (fuzz regression)", "[rules][config]") {
  test::TempDir d;
  auto pack = d.write("k.yaml", "rules:\n  - id: A\n    ? [target, x]\n    : body\n");
  std::vector<RuleSpec> out;
  try {
    config::load_rule_file(pack, out, false, nullptr);
    FAIL("no error");
  } catch (const core::ConfigError& e) {
    CHECK(std::string(e.what()).find(pack + ":3") != std::string::npos);
    CHECK(std::string(e.what()).find("plain word") != std::string::npos);
  }
  auto cfg = d.write("c.yaml", "limits:\n  max_urls: 3\n  ? {a: 1}\n  : 2\n");
  try {
    config::load_config(cfg);
    FAIL("no error");
  } catch (const core::ConfigError& e) {
    CHECK(std::string(e.what()).find(cfg + ":3") != std::string::npos);
  }
}

// Found by fuzz_config: a path longer than the system allows made
// std::filesystem throw (ENAMETOOLONG) past the loader's own errors.
TEST_CASE("rules/config: a rule path too long for the system is a ConfigError naming it (fuzz regression)", "[rules][config]") {
  test::TempDir d;
  std::string longp = "/" + std::string(5000, 'x');
  auto cfg = d.write("t.yaml", "model: {enabled: false}\nrules:\n  paths: [" + longp + "]\n  local_dir: " + longp + "\n");
  try {
    auto c = config::load_config(cfg);
    config::load_rules(c);
    FAIL("no error");
  } catch (const core::ConfigError& e) {
    CHECK(std::string(e.what()).find("rule path does not exist") != std::string::npos);
  }
}

TEST_CASE("rules: a rules.d pack overrides a shipped rule by id and adds new ones", "[rules][config]") {
  test::TempDir d;
  std::filesystem::create_directories(d.p / "shipped");
  std::filesystem::create_directories(d.p / "rules.d");
  d.write("shipped/10.yaml", "rules:\n  - id: A\n    target: body\n    pattern: foo\n    score: 1\n  - id: B\n    target: body\n    pattern: bar\n    score: 2\n");
  d.write("rules.d/local.yaml", "rules:\n  - id: A\n    score: 7\n  - id: B\n    enabled: false\n  - id: C\n    target: subject\n    pattern: baz\n    score: 3\n");
  d.write("t.yaml", "model: {enabled: false}\nrules:\n  paths: [shipped]\n  local_dir: rules.d\n");
  auto cfg = config::load_config((d.p / "t.yaml").string());
  auto cr = rules::CompiledRules::build(config::load_rules(cfg));
  features::Fields f;
  f.add("body", "foo bar");
  f.add("subject", "baz");
  auto h = cr->evaluate(f);
  CHECK(ids(*cr, h) == std::vector<std::string>{"A", "C"});
  CHECK(h.points == 10);
}

TEST_CASE("rules: model_feature defaults to true; a pack or a rules.d override can turn it off", "[rules][config]") {
  test::TempDir d;
  std::filesystem::create_directories(d.p / "shipped");
  std::filesystem::create_directories(d.p / "rules.d");
  d.write("shipped/10.yaml",
          "rules:\n  - id: A\n    target: body\n    pattern: foo\n    score: 0\n    model_feature: false\n"
          "  - id: B\n    target: body\n    pattern: bar\n    score: 2\n  - id: C\n    target: body\n    pattern: baz\n    score: 1\n");
  d.write("rules.d/local.yaml", "rules:\n  - id: B\n    model_feature: false\n");
  d.write("t.yaml", "model: {enabled: false}\nrules:\n  paths: [shipped]\n  local_dir: rules.d\n");
  auto specs = config::load_rules(config::load_config((d.p / "t.yaml").string()));
  REQUIRE(specs.size() == 3);
  CHECK_FALSE(specs[0].model_feature);
  CHECK_FALSE(specs[1].model_feature);
  CHECK(specs[1].score == 2);  // the override changed only the key it gave
  CHECK(specs[2].model_feature);
  d.write("rules.d/local.yaml", "rules:\n  - id: C\n    model_feature: maybe\n");
  CHECK_THROWS_AS(config::load_rules(config::load_config((d.p / "t.yaml").string())), core::ConfigError);
}
