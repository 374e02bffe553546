// libFuzzer harness: arbitrary bytes as a rule pack, loaded both as a shipped
// pack and as a rules.d override of the shipped rules, then compiled (RE2
// sets, meta rules) and run on a small message. Bad input must end in
// core::ConfigError naming the file; anything else is a bug.
#include <cstdint>
#include <cstdlib>

#include "config/config.hpp"
#include "core/error.hpp"
#include "loader_common.hpp"
#include "features/features.hpp"
#include "rules/rules.hpp"

using namespace tamis;

static const std::vector<rules::RuleSpec>& shipped() {
  static auto specs = [] {
    const char* dir = std::getenv("TAMIS_RULES");
    config::Config c;
    c.rule_paths = {dir ? dir : "rules"};
    c.local_rules_dir.clear();
    return config::load_rules(c);
  }();
  return specs;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string path = fuzz::write_input("pack.yaml", data, size);
  for (bool local : {false, true}) {
    std::vector<rules::RuleSpec> specs = local ? shipped() : std::vector<rules::RuleSpec>{};
    try {
      config::load_rule_file(path, specs, local, nullptr);
      auto compiled = rules::CompiledRules::build(specs);
      features::Fields f;
      f.add("subject", "FREE money now!!!");
      f.add("body", "click here http://example.com/a");
      (void)compiled->evaluate(f);
    } catch (const core::ConfigError& e) {
      if (std::string_view(e.what()).find(':') == std::string_view::npos) __builtin_trap();  // file:line: reason
    }
  }
  return 0;
}
