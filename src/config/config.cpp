#include "config/config.hpp"

#include <sys/stat.h>

#include <cstdio>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace fs = std::filesystem;

namespace tamis::config {
namespace {

struct Ctx {
  std::string file;
  [[noreturn]] void fail(const YAML::Node& n, const std::string& msg) const {
    throw core::ConfigError(file, n.Mark().is_null() ? 0 : n.Mark().line + 1, msg);
  }
  void only_keys(const YAML::Node& map, const std::string& where, const std::vector<const char*>& keys) const {
    if (!map.IsMap()) fail(map, where + " must be a mapping");
    std::set<std::string> seen;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, "a key in " + where + " must be a plain word, not a list or mapping");
      std::string k = kv.first.Scalar();
      // yaml-cpp keeps the first of two equal keys and drops the second
      // silently: a setting that looks set would have no effect.
      if (!seen.insert(k).second) fail(kv.first, "duplicate key '" + k + "' in " + where + " (only one may be given)");
      if (std::none_of(keys.begin(), keys.end(), [&](const char* x) { return k == x; })) {
        fail(kv.first, "unknown key '" + k + "' in " + where + " (known: " + core::join(keys, ", ") + ")");
      }
    }
  }
  template <typename T>
  T get(const YAML::Node& n, const std::string& what) const {
    try {
      return n.as<T>();
    } catch (const YAML::Exception&) {
      fail(n, what + ": wrong type (value '" + (n.IsScalar() ? n.Scalar() : std::string("<non-scalar>")) + "')");
    }
  }
  template <typename T>
  void opt(const YAML::Node& map, const char* key, T& out, const std::string& where) const {
    if (auto n = map[key]) out = get<T>(n, where + "." + key);
  }
  std::size_t size(const YAML::Node& map, const char* key, std::size_t dflt, const std::string& where) const {
    if (auto n = map[key]) {
      long long v = get<long long>(n, where + "." + key);
      if (v <= 0) fail(n, where + "." + key + " must be positive");
      return static_cast<std::size_t>(v);
    }
    return dflt;
  }
  core::Action action(const YAML::Node& map, const char* key, core::Action dflt, const std::string& where) const {
    if (auto n = map[key]) {
      auto a = core::parse_action(get<std::string>(n, where + "." + key));
      if (!a) fail(n, where + "." + key + ": expected accept, tag, reject, tempfail, quarantine or discard");
      return *a;
    }
    return dflt;
  }
};

}  // namespace

// Least privilege: a file or directory that every local user may write would
// let any of them decide what mail gets through. Refused, with the fix.
void refuse_world_writable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !(st.st_mode & S_IWOTH)) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  throw core::ConfigError(path, 0,
                          std::string("is writable by every user (mode ") + mode + "): any local user could change what tamis "
                          "lets through; refusing it (fix: chmod o-w " + path + ")");
}

namespace {

// Filesystem queries that never throw: a path from a config file may be
// anything (too long, a loop, unreadable); it is then simply not a directory
// or not there, and the caller's error names it.
bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}
// *.yaml / *.yml regular files directly in `d`, sorted by name.
std::vector<std::string> yaml_in_dir(const fs::path& d) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
    auto ext = it->path().extension().string();
    std::error_code fe;
    if (it->is_regular_file(fe) && (ext == ".yaml" || ext == ".yml")) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

YAML::Node load_yaml(const std::string& file) {
  if (!exists(file)) throw core::ConfigError(file, 0, "no such file");
  refuse_world_writable(file);
  try {
    return YAML::LoadFile(file);
  } catch (const YAML::ParserException& e) {
    throw core::ConfigError(file, e.mark.line + 1, "YAML syntax: " + e.msg);
  } catch (const YAML::Exception& e) {
    throw core::ConfigError(file, 0, e.what());
  }
}

std::string resolve(const std::string& dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(dir) / p).lexically_normal().string();
}

}  // namespace

std::string default_config_path() {
#ifdef TAMIS_INSTALLED_CONFIG
  // An installed build (the Debian package) always reads its own config.
  return TAMIS_INSTALLED_CONFIG;
#else
  if (fs::exists("config/tamis.yaml")) return "config/tamis.yaml";
  return "/etc/tamis/tamis.yaml";
#endif
}

namespace {

// rspamd-style layering: maps merge key by key, scalars and lists replace.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over) {
  if (!over.IsMap() || !base.IsMap()) return YAML::Clone(over);
  YAML::Node out = YAML::Clone(base);
  for (const auto& kv : over) {
    if (!kv.first.IsScalar()) continue;  // refused by only_keys when the layer was checked
    std::string k = kv.first.Scalar();
    out[k] = out[k] ? merge(out[k], kv.second) : YAML::Clone(kv.second);
  }
  return out;
}

// `whole`: the merged result (cross-field checks apply), not one layer alone.
Config parse_config(const YAML::Node& root, const std::string& path, const std::string& dir, bool whole);

}  // namespace

std::vector<std::string> conf_d_files(const std::string& config_path) {
  std::vector<std::string> files;
  fs::path d = fs::absolute(config_path).parent_path() / "conf.d";
  if (!is_dir(d)) return files;
  refuse_world_writable(d.string());
  return yaml_in_dir(d);
}

// Anything yaml-cpp throws while a file is being interpreted (not only
// parsed) still names that file and line.
template <typename F>
auto yaml_guard(const std::string& file, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const YAML::Exception& e) {
    throw core::ConfigError(file, e.mark.is_null() ? 0 : e.mark.line + 1, e.msg);
  }
}

YAML::Node merged_yaml(const std::string& path) {
  YAML::Node root = load_yaml(path);
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  std::string dir = fs::absolute(path).parent_path().string();
  // Each layer is checked alone: errors name its file and line.
  yaml_guard(path, [&] { parse_config(root, path, dir, conf_d_files(path).empty()); });
  for (const auto& f : conf_d_files(path)) {
    YAML::Node layer = load_yaml(f);
    if (!layer.IsDefined() || layer.IsNull()) continue;
    yaml_guard(f, [&] {
      parse_config(layer, f, dir, false);
      root = merge(root, layer);
    });
  }
  return root;
}

std::string dump_config(const std::string& path) {
  YAML::Emitter e;
  e << merged_yaml(path);
  return e.c_str();
}

Config load_config(const std::string& path) {
  YAML::Node root = merged_yaml(path);
  std::string where = path;
  if (!conf_d_files(path).empty()) where += " (with conf.d)";
  Config c = yaml_guard(where, [&] { return parse_config(root, where, fs::absolute(path).parent_path().string(), true); });
  if (c.model_enabled) refuse_world_writable(c.model_path);
  for (const auto& p : c.rule_paths)
    if (is_dir(p)) refuse_world_writable(p);
  return c;
}

namespace {

Config parse_config(const YAML::Node& root, const std::string& path, const std::string& dir, bool whole) {
  Config c;
  c.path = path;
  c.dir = dir;
  Ctx cx{path};
  cx.only_keys(root, "the top level", {"limits", "thresholds", "reject_action", "model", "rules", "failure", "headers", "milter"});
  if (auto l = root["limits"]) {
    std::vector<const char*> keys;
    for (const auto& f : core::kSizeLimits) keys.push_back(f.name);
    keys.push_back("scan_timeout_ms");
    cx.only_keys(l, "limits", keys);
    auto& L = c.limits;
    for (const auto& [name, member] : core::kSizeLimits) L.*member = cx.size(l, name, L.*member, "limits");
    L.scan_timeout = std::chrono::milliseconds(cx.size(l, "scan_timeout_ms", static_cast<std::size_t>(L.scan_timeout.count()), "limits"));
    if (L.max_mime_depth > 100) cx.fail(l["max_mime_depth"], "limits.max_mime_depth above 100 is unsafe");
  }
  if (auto t = root["thresholds"]) {
    cx.only_keys(t, "thresholds", {"tag", "reject"});
    cx.opt(t, "tag", c.thresholds.tag, "thresholds");
    cx.opt(t, "reject", c.thresholds.reject, "thresholds");
    if (whole && c.thresholds.reject < c.thresholds.tag) cx.fail(t, "thresholds.reject must not be below thresholds.tag");
  }
  c.reject_action = cx.action(root, "reject_action", c.reject_action, "");
  c.model_path = "../models/default.json";
  if (auto m = root["model"]) {
    cx.only_keys(m, "model", {"enabled", "path", "points_per_logit"});
    cx.opt(m, "enabled", c.model_enabled, "model");
    cx.opt(m, "path", c.model_path, "model");
    cx.opt(m, "points_per_logit", c.model_points_per_logit, "model");
  }
  c.model_path = resolve(c.dir, c.model_path);
  c.rule_paths = {"../rules"};
  c.local_rules_dir = "rules.d";
  if (auto r = root["rules"]) {
    cx.only_keys(r, "rules", {"paths", "local_dir"});
    if (auto p = r["paths"]) {
      if (!p.IsSequence()) cx.fail(p, "rules.paths must be a list");
      c.rule_paths.clear();
      for (const auto& e : p) c.rule_paths.push_back(cx.get<std::string>(e, "rules.paths[]"));
    }
    cx.opt(r, "local_dir", c.local_rules_dir, "rules");
  }
  for (auto& p : c.rule_paths) p = resolve(c.dir, p);
  c.local_rules_dir = resolve(c.dir, c.local_rules_dir);
  if (auto f = root["failure"]) {
    cx.only_keys(f, "failure", {"internal_error", "scan_timeout", "model_unavailable"});
    c.failure.internal_error = cx.action(f, "internal_error", c.failure.internal_error, "failure");
    c.failure.scan_timeout = cx.action(f, "scan_timeout", c.failure.scan_timeout, "failure");
    c.failure.model_unavailable = cx.action(f, "model_unavailable", c.failure.model_unavailable, "failure");
  }
  if (auto h = root["headers"]) {
    cx.only_keys(h, "headers", {"status_on_ham", "subject_prefix", "report_header", "remove_incoming"});
    cx.opt(h, "status_on_ham", c.headers.status_on_ham, "headers");
    cx.opt(h, "subject_prefix", c.headers.subject_prefix, "headers");
    cx.opt(h, "report_header", c.headers.report_header, "headers");
    cx.opt(h, "remove_incoming", c.headers.remove_incoming, "headers");
  }
  if (auto m = root["milter"]) {
    cx.only_keys(m, "milter", {"socket", "user", "pid_file", "log", "timeout_s", "bypass_authenticated",
                               "trusted_networks", "reject_text", "metrics_port", "metrics_address",
                               "max_connections", "max_scans"});
    cx.opt(m, "socket", c.milter.socket, "milter");
    cx.opt(m, "user", c.milter.user, "milter");
    cx.opt(m, "pid_file", c.milter.pid_file, "milter");
    cx.opt(m, "log", c.milter.log, "milter");
    {
      const std::string& sp = c.milter.socket;
      if (!(sp.rfind("unix:/", 0) == 0 || sp.rfind("local:/", 0) == 0 || sp.rfind("/", 0) == 0 ||
            sp.rfind("inet:", 0) == 0 || sp.rfind("inet6:", 0) == 0))
        cx.fail(m["socket"], "milter.socket: expected unix:/path, inet:PORT@HOST or inet6:PORT@HOST");
    }
    cx.opt(m, "timeout_s", c.milter.timeout_s, "milter");
    if (c.milter.timeout_s < 1 || c.milter.timeout_s > 86400)
      cx.fail(m["timeout_s"], "milter.timeout_s: expected 1 to 86400 seconds");
    c.milter.max_connections = cx.size(m, "max_connections", c.milter.max_connections, "milter");
    if (c.milter.max_connections < 1 || c.milter.max_connections > 100000)
      cx.fail(m["max_connections"], "milter.max_connections: expected 1 to 100000");
    cx.opt(m, "max_scans", c.milter.max_scans, "milter");
    if (c.milter.max_scans < 0 || c.milter.max_scans > 1024)
      cx.fail(m["max_scans"], "milter.max_scans: expected 0 (one per CPU core) to 1024");
    cx.opt(m, "bypass_authenticated", c.milter.bypass_authenticated, "milter");
    cx.opt(m, "reject_text", c.milter.reject_text, "milter");
    if (auto tn = m["trusted_networks"]) {
      if (!tn.IsSequence()) cx.fail(tn, "milter.trusted_networks must be a list");
      c.milter.trusted_networks.clear();
      for (const auto& e : tn) c.milter.trusted_networks.push_back(cx.get<std::string>(e, "milter.trusted_networks[]"));
    }
    if (c.milter.log != "syslog" && c.milter.log != "stderr") cx.fail(m["log"], "milter.log: expected syslog or stderr");
    cx.opt(m, "metrics_port", c.milter.metrics_port, "milter");
    cx.opt(m, "metrics_address", c.milter.metrics_address, "milter");
    if (c.milter.metrics_port < 0 || c.milter.metrics_port > 65535)
      cx.fail(m["metrics_port"], "milter.metrics_port: expected 0 (off) or a port number");
    // The endpoint has no authentication: loopback only (scrape through a
    // local proxy or agent to collect from elsewhere).
    const std::string& ma = c.milter.metrics_address;
    if (!(ma.rfind("127.", 0) == 0 || ma == "::1"))
      cx.fail(m["metrics_address"], "milter.metrics_address: only loopback addresses (127.0.0.0/8 or ::1) are allowed");
  }
  return c;
}

}  // namespace

namespace {
void load_rule_file_unguarded(const std::string& file, std::vector<rules::RuleSpec>& out, bool local,
                              std::vector<RuleExamples>* examples) {
  Ctx cx{file};
  YAML::Node root = load_yaml(file);
  if (!root.IsDefined() || root.IsNull()) return;  // an empty local file is fine
  cx.only_keys(root, "a rule pack", {"rules"});
  YAML::Node list = root["rules"];
  if (!list) return;
  if (!list.IsSequence()) cx.fail(list, "'rules' must be a list");
  for (const auto& n : list) {
    cx.only_keys(n, "a rule", {"id", "description", "target", "pattern", "flags", "meta", "group", "score", "enabled", "model_feature", "examples"});
    if (!n["id"]) cx.fail(n, "rule without an id");
    std::string id = cx.get<std::string>(n["id"], "id");
    int line = n.Mark().line + 1;
    auto existing = std::find_if(out.begin(), out.end(), [&](const rules::RuleSpec& r) { return r.id == id; });
    rules::RuleSpec* r;
    if (local && existing != out.end()) {
      r = &*existing;  // override: only the keys given change
      if ((n["pattern"] || n["target"]) && n["meta"]) cx.fail(n, "rule " + id + ": both meta and pattern");
      if (n["meta"]) { r->target.clear(); r->pattern.clear(); }
      if (n["pattern"] || n["target"]) r->meta.clear();
    } else {
      out.emplace_back();
      r = &out.back();
      r->id = id;
    }
    r->file = file;
    r->line = line;
    cx.opt(n, "description", r->description, id);
    cx.opt(n, "target", r->target, id);
    cx.opt(n, "pattern", r->pattern, id);
    cx.opt(n, "flags", r->flags, id);
    cx.opt(n, "meta", r->meta, id);
    cx.opt(n, "group", r->group, id);
    cx.opt(n, "score", r->score, id);
    cx.opt(n, "enabled", r->enabled, id);
    cx.opt(n, "model_feature", r->model_feature, id);
    if (!(local && existing != out.end()) && !n["score"]) cx.fail(n, "rule " + id + ": missing score");
    if (auto ex = n["examples"]) {
      cx.only_keys(ex, "examples", {"hit", "miss"});
      RuleExamples re{id, {}, {}};
      for (const char* k : {"hit", "miss"}) {
        if (!ex[k]) continue;
        if (!ex[k].IsSequence()) cx.fail(ex[k], std::string("examples.") + k + " must be a list");
        for (const auto& e : ex[k]) (std::string(k) == "hit" ? re.hit : re.miss).push_back(cx.get<std::string>(e, k));
      }
      if (examples) examples->push_back(std::move(re));
    }
  }
}
}  // namespace

void load_rule_file(const std::string& file, std::vector<rules::RuleSpec>& out, bool local,
                    std::vector<RuleExamples>* examples) {
  yaml_guard(file, [&] { load_rule_file_unguarded(file, out, local, examples); });
}

namespace {
std::vector<std::string> yaml_files(const std::string& p) {
  std::vector<std::string> files;
  if (is_dir(p)) {
    files = yaml_in_dir(p);
  } else if (exists(p)) {
    files.push_back(p);
  } else {
    throw core::ConfigError(p, 0, "rule path does not exist");
  }
  return files;
}
}  // namespace

std::vector<rules::RuleSpec> load_rules(const Config& c, std::vector<RuleExamples>* examples) {
  std::vector<rules::RuleSpec> out;
  for (const auto& p : c.rule_paths)
    for (const auto& f : yaml_files(p)) load_rule_file(f, out, false, examples);
  if (!c.local_rules_dir.empty() && is_dir(c.local_rules_dir)) {
    refuse_world_writable(c.local_rules_dir);
    for (const auto& f : yaml_files(c.local_rules_dir)) load_rule_file(f, out, true, examples);
  }
  return out;
}

}  // namespace tamis::config
