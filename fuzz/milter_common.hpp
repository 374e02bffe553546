// Shared by the milter harnesses (session, wire): one snapshot of the
// shipped rules (TAMIS_RULES, default ./rules), no model, a 64 KiB scan cap
// so inputs reach it, and a trusted network for the bypass path.
#pragma once

#include <cstdlib>

#include "config/config.hpp"
#include "engine/engine.hpp"

namespace tamis::fuzz {

inline engine::SnapshotStore& milter_store() {
  static engine::SnapshotStore s = [] {
    const char* dir = std::getenv("TAMIS_RULES");
    config::Config c;
    c.rule_paths = {dir ? dir : "rules"};
    c.model_enabled = false;
    c.limits.max_scan_bytes = 64 * 1024;
    c.milter.trusted_networks = {"198.51.100.0/24"};
    return engine::SnapshotStore(engine::Snapshot::from_parts(c, config::load_rules(c), nullptr));
  }();
  return s;
}

}  // namespace tamis::fuzz
