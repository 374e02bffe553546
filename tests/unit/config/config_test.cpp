#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "core/error.hpp"
#include "support.hpp"

using namespace tamis;

namespace {
std::string write_tmp(const std::string& text) {
  static int n = 0;
  auto p = std::filesystem::temp_directory_path() / ("tamis-cfg-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".yaml");
  std::ofstream(p) << text;
  return p.string();
}
std::string error_of(const std::string& text) {
  auto p = write_tmp(text);
  try {
    config::load_config(p);
  } catch (const core::ConfigError& e) {
    std::filesystem::remove(p);
    return e.what();
  }
  std::filesystem::remove(p);
  return "";
}
}  // namespace

TEST_CASE("config: the shipped tamis.yaml loads and matches the built-in defaults", "[config]") {
  auto c = config::load_config(test::src_path("config/tamis.yaml"));
  core::Limits d;
  CHECK(c.limits.max_scan_bytes == d.max_scan_bytes);
  CHECK(c.limits.max_mime_parts == d.max_mime_parts);
  CHECK(c.limits.scan_timeout == d.scan_timeout);
  CHECK(c.failure.internal_error == core::Action::Accept);
  CHECK(c.reject_action == core::Action::Reject);
  CHECK(std::filesystem::exists(c.model_path));
  CHECK(c.rule_paths.size() == 1);
}

TEST_CASE("config: an empty file gives the defaults", "[config]") {
  auto p = write_tmp("");
  auto c = config::load_config(p);
  CHECK(c.thresholds.tag == 3.5);
  CHECK(c.thresholds.reject == 6.5);
  std::filesystem::remove(p);
}

TEST_CASE("config: errors name the file and line", "[config]") {
  auto e = error_of("limits:\n  max_urls: 10\n  max_ulrs: 5\n");
  CHECK(e.find(":3:") != std::string::npos);
  CHECK(e.find("unknown key 'max_ulrs'") != std::string::npos);
  CHECK(error_of("thresholds:\n  tag: lots\n").find(":2:") != std::string::npos);
  CHECK(error_of("thresholds: {tag: 10, reject: 5}\n").find("reject must not be below") != std::string::npos);
  CHECK(error_of("failure:\n  internal_error: shrug\n").find("expected accept") != std::string::npos);
  CHECK(error_of("limits: {max_mime_parts: 0}\n").find("must be positive") != std::string::npos);
  CHECK(error_of("limits: [1, 2\n").find("YAML syntax") != std::string::npos);
  CHECK(error_of("milter: {log: journal}\n").find("syslog or stderr") != std::string::npos);
  // A duplicate key would silently lose to the first one.
  auto dup = error_of("thresholds:\n  tag: 4\nmilter:\n  log: stderr\nmilter:\n  metrics_port: 9100\n");
  CHECK(dup.find(":5:") != std::string::npos);
  CHECK(dup.find("duplicate key 'milter'") != std::string::npos);
  CHECK(error_of("thresholds: {tag: 4, tag: 5}\n").find("duplicate key 'tag'") != std::string::npos);
  // The metrics endpoint has no authentication: loopback only.
  auto m = error_of("milter:\n  metrics_port: 9100\n  metrics_address: 0.0.0.0\n");
  CHECK(m.find(":3:") != std::string::npos);
  CHECK(m.find("only loopback") != std::string::npos);
  CHECK(error_of("milter: {metrics_port: 70000}\n").find("metrics_port") != std::string::npos);
  CHECK(error_of("milter: {metrics_port: 9100, metrics_address: \"::1\"}\n").empty());
  // The server's bounds and socket.
  CHECK(error_of("milter:\n  max_connections: 0\n").find(":2:") != std::string::npos);
  CHECK(error_of("milter: {max_connections: 0}\n").find("milter.max_connections must be positive") != std::string::npos);
  CHECK(error_of("milter: {max_connections: 200000}\n").find("max_connections: expected 1 to 100000") != std::string::npos);
  CHECK(error_of("milter: {timeout_s: 0}\n").find("timeout_s: expected 1 to 86400") != std::string::npos);
  CHECK(error_of("milter: {socket: \"tcp:25\"}\n").find("expected unix:/path") != std::string::npos);
  CHECK(error_of("milter: {max_scans: -1}\n").find("max_scans: expected 0 (one per CPU core) to 1024") != std::string::npos);
  CHECK(error_of("milter: {max_scans: 0}\n").empty());
  CHECK(error_of("milter: {socket: \"unix:/run/t.sock\", max_connections: 64, timeout_s: 900}\n").empty());
}

TEST_CASE("config: relative paths are resolved against the config file's directory", "[config]") {
  auto p = write_tmp("model: {path: m/x.json}\nrules: {paths: [r], local_dir: l}\n");
  auto c = config::load_config(p);
  auto dir = std::filesystem::path(p).parent_path();
  CHECK(c.model_path == (dir / "m/x.json").string());
  CHECK(c.rule_paths[0] == (dir / "r").string());
  CHECK(c.local_rules_dir == (dir / "l").string());
  std::filesystem::remove(p);
}

TEST_CASE("config: a missing config file is an error naming it", "[config]") {
  CHECK_THROWS_WITH(config::load_config("/nonexistent/tamis.yaml"), Catch::Contains("/nonexistent/tamis.yaml"));
}

namespace {
struct ConfDir {
  std::filesystem::path dir;
  ConfDir() {
    static int n = 0;
    dir = std::filesystem::temp_directory_path() / ("tamis-confd-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::create_directories(dir / "conf.d");
  }
  ~ConfDir() { std::filesystem::remove_all(dir); }
  std::string write(const std::string& rel, const std::string& text) {
    std::ofstream(dir / rel) << text;
    return (dir / rel).string();
  }
};
}  // namespace

TEST_CASE("config: conf.d files merge over tamis.yaml in name order; maps merge, scalars and lists replace", "[config][layers]") {
  ConfDir d;
  auto main = d.write("tamis.yaml", "thresholds: {tag: 4, reject: 9}\nmilter:\n  trusted_networks: [10.0.0.0/8, 192.0.2.0/24]\n  log: stderr\n");
  d.write("conf.d/20-b.yaml", "thresholds:\n  tag: 6\n");
  d.write("conf.d/10-a.yaml", "thresholds:\n  tag: 5\nmilter:\n  trusted_networks: [198.51.100.0/24]\n");
  auto c = config::load_config(main);
  CHECK(c.thresholds.tag == 6);     // 20-b applies after 10-a
  CHECK(c.thresholds.reject == 9);  // untouched key of a merged map stays
  CHECK(c.milter.trusted_networks == std::vector<std::string>{"198.51.100.0/24"});  // lists replace
  CHECK(c.milter.log == "stderr");
  CHECK(config::conf_d_files(main).size() == 2);
  CHECK(config::dump_config(main).find("tag: 6") != std::string::npos);
}

TEST_CASE("config: a broken conf.d file is refused with its own file and line", "[config][layers]") {
  ConfDir d;
  auto main = d.write("tamis.yaml", "thresholds: {tag: 4}\n");
  auto bad = d.write("conf.d/local.yaml", "limits:\n  max_urls: 10\n  max_ulrs: 5\n");
  CHECK_THROWS_WITH(config::load_config(main), Catch::Contains(bad + ":3") && Catch::Contains("max_ulrs"));
}

TEST_CASE("config: cross-field checks see the merged result, not one layer", "[config][layers]") {
  ConfDir d;
  auto main = d.write("tamis.yaml", "thresholds: {tag: 4, reject: 20}\n");
  d.write("conf.d/local.yaml", "thresholds: {tag: 10}\n");  // alone: 10 > the default reject; merged: fine
  CHECK(config::load_config(main).thresholds.tag == 10);
  d.write("conf.d/zz.yaml", "thresholds: {reject: 5}\n");  // merged: reject 5 < tag 10
  CHECK_THROWS_WITH(config::load_config(main), Catch::Contains("reject must not be below"));
}

TEST_CASE("config: files and directories writable by every user are refused, naming the fix", "[config][privilege]") {
  test::TempDir d;
  std::filesystem::create_directories(d.p / "rules.d");
  std::filesystem::create_directories(d.p / "conf.d");
  d.write("rules.d/local.yaml", "rules:\n  - id: L\n    target: subject\n    pattern: x\n    score: 1\n");
  auto cfg = d.write("tamis.yaml", "model: {enabled: false}\nrules:\n  paths: []\n");
  auto perms = [](const std::filesystem::path& p, std::filesystem::perms add) {
    std::filesystem::permissions(p, add, std::filesystem::perm_options::add);
  };
  auto error = [&] {
    try {
      auto c = config::load_config(cfg);
      config::load_rules(c);
    } catch (const core::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error().empty());
  perms(cfg, std::filesystem::perms::others_write);
  CHECK(error().find("tamis.yaml") != std::string::npos);
  CHECK(error().find("writable by every user (mode 0") != std::string::npos);
  CHECK(error().find("chmod o-w") != std::string::npos);
  std::filesystem::permissions(cfg, std::filesystem::perms::others_write, std::filesystem::perm_options::remove);
  CHECK(error().empty());
  perms(d.p / "rules.d" / "local.yaml", std::filesystem::perms::others_write);
  CHECK(error().find("local.yaml") != std::string::npos);
  std::filesystem::permissions(d.p / "rules.d" / "local.yaml", std::filesystem::perms::others_write,
                               std::filesystem::perm_options::remove);
  perms(d.p / "rules.d", std::filesystem::perms::others_write);
  CHECK(error().find("rules.d") != std::string::npos);
  std::filesystem::permissions(d.p / "rules.d", std::filesystem::perms::others_write, std::filesystem::perm_options::remove);
  perms(d.p / "conf.d", std::filesystem::perms::others_write);
  CHECK(error().find("conf.d") != std::string::npos);
  std::filesystem::permissions(d.p / "conf.d", std::filesystem::perms::others_write, std::filesystem::perm_options::remove);
  // The model file too, when the model is enabled.
  d.write("m.json", "{}");
  cfg = d.write("tamis.yaml", "model: {path: m.json}\nrules:\n  paths: []\n");
  perms(d.p / "m.json", std::filesystem::perms::others_write);
  CHECK(error().find("m.json") != std::string::npos);
}
