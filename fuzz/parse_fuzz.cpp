// libFuzzer harness: arbitrary bytes through MIME parsing, feature
// extraction and the shipped rules. Any crash, sanitizer report or leak is a
// bug; the parser must turn every input into a ParsedMessage.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "features/features.hpp"
#include "mime/message.hpp"
#include "rules/rules.hpp"

using namespace tamis;

static std::shared_ptr<const rules::CompiledRules> shipped_rules() {
  static auto r = [] {
    const char* dir = std::getenv("TAMIS_RULES");
    config::Config c;
    c.rule_paths = {dir ? dir : "rules"};
    return rules::CompiledRules::build(config::load_rules(c));
  }();
  return r;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  core::Limits lim;
  lim.max_scan_bytes = 256 * 1024;  // keep each run short; the caps themselves are tested
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto msg = mime::parse(raw, lim, core::Deadline::never());
  core::Envelope env;
  if (size > 0 && data[0] & 1) {  // half the runs with an envelope
    env.has_envelope = true;
    env.helo = std::string(raw.substr(0, 20));
    env.client_ip = "192.0.2.1";
    env.rcpt_to = {"a@example.org"};
  }
  auto ex = features::extract(msg, env, lim, core::Deadline::never());
  auto hits = shipped_rules()->evaluate(ex.fields);
  (void)hits;
  return 0;
}
