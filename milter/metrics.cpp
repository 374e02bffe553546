#include "metrics.hpp"

#include <malloc.h>

#include <cstdio>

namespace tamis::milter {

void Stats::observe_scan_us(std::uint64_t us) {
  double s = static_cast<double>(us) / 1e6;
  std::size_t i = 0;
  while (i < kBuckets.size() && s > kBuckets[i]) ++i;
  scan_bucket[i].fetch_add(1, std::memory_order_relaxed);
  scan_count.fetch_add(1, std::memory_order_relaxed);
  scan_us_sum.fetch_add(us, std::memory_order_relaxed);
}

void Stats::count_rule_hits(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  std::lock_guard<std::mutex> lk(rule_mu_);
  for (const auto& id : ids) ++rule_hits_[id];
}

std::map<std::string, std::uint64_t> Stats::rule_hits() const {
  std::lock_guard<std::mutex> lk(rule_mu_);
  return rule_hits_;
}

namespace {

// Label values are rule ids ([A-Za-z0-9_] by the loader) and fixed words;
// escape anyway, as the format asks.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, std::uint64_t v) {
  out += name + ' ' + std::to_string(v) + '\n';
}

std::string num(double d) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", d);
  return b;
}

}  // namespace

std::string render_prometheus(const Stats& s) {
  std::string o;
  o.reserve(4096);
  family(o, "tamis_messages_total", "counter", "Messages judged by tamisd, by the action taken.");
  const std::pair<const char*, const std::atomic<std::uint64_t>*> actions[] = {
      {"accept", &s.accepted},        {"tag", &s.tagged},         {"reject", &s.rejected},
      {"tempfail", &s.tempfailed},    {"quarantine", &s.quarantined}, {"discard", &s.discarded},
      {"bypass", &s.bypassed},        {"failure_policy", &s.failures}};
  for (const auto& [name, v] : actions)
    sample(o, std::string("tamis_messages_total{action=\"") + name + "\"}", v->load());

  family(o, "tamis_errors_total", "counter", "Messages the engine could not judge, and callback errors, by kind.");
  sample(o, "tamis_errors_total{kind=\"scan_timeout\"}", s.scan_timeouts.load());
  sample(o, "tamis_errors_total{kind=\"model_unavailable\"}", s.model_unavailable.load());
  std::uint64_t other = s.failures.load() - std::min(s.failures.load(), s.scan_timeouts.load() + s.model_unavailable.load());
  sample(o, "tamis_errors_total{kind=\"scan_error\"}", other);
  sample(o, "tamis_errors_total{kind=\"internal_error\"}", s.internal_errors.load());

  family(o, "tamis_scan_duration_seconds", "histogram", "Time to scan one message (parse, features, rules, model).");
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < Stats::kBuckets.size(); ++i) {
    cum += s.scan_bucket[i].load();
    sample(o, "tamis_scan_duration_seconds_bucket{le=\"" + num(Stats::kBuckets[i]) + "\"}", cum);
  }
  cum += s.scan_bucket[Stats::kBuckets.size()].load();
  sample(o, "tamis_scan_duration_seconds_bucket{le=\"+Inf\"}", cum);
  char sum[40];  // microsecond resolution, as measured
  std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(s.scan_us_sum.load()) / 1e6);
  o += std::string("tamis_scan_duration_seconds_sum ") + sum + '\n';
  sample(o, "tamis_scan_duration_seconds_count", s.scan_count.load());

  family(o, "tamis_reloads_total", "counter", "Successful reloads (SIGUSR1).");
  sample(o, "tamis_reloads_total", s.reloads.load());
  family(o, "tamis_reload_failures_total", "counter", "Reloads refused because the new config, rules or model was invalid.");
  sample(o, "tamis_reload_failures_total", s.reload_failures.load());
  family(o, "tamis_milter_connections", "gauge", "MTA connections open now.");
  sample(o, "tamis_milter_connections", s.connections.load());
  family(o, "tamis_milter_connections_refused_total", "counter",
         "MTA connections closed at once because milter.max_connections was reached.");
  sample(o, "tamis_milter_connections_refused_total", s.connections_refused.load());
  family(o, "tamis_snapshot_generation", "gauge", "Generation of the config+rules+model snapshot now judging mail.");
  sample(o, "tamis_snapshot_generation", s.generation.load());

  // glibc malloc's view: what the program holds now, and what malloc keeps
  // from the kernel for it (the difference is free memory malloc retains).
  struct mallinfo2 mi = mallinfo2();
  family(o, "tamis_heap_in_use_bytes", "gauge", "Heap bytes allocated and not freed (glibc mallinfo2).");
  sample(o, "tamis_heap_in_use_bytes", mi.uordblks + mi.hblkhd);
  family(o, "tamis_heap_held_bytes", "gauge", "Heap bytes malloc holds from the kernel, in use or free (glibc mallinfo2).");
  sample(o, "tamis_heap_held_bytes", mi.arena + mi.hblkhd);

  family(o, "tamis_rule_hits_total", "counter", "Messages each rule hit, since tamisd started.");
  for (const auto& [id, n] : s.rule_hits()) sample(o, "tamis_rule_hits_total{rule=\"" + label(id) + "\"}", n);
  return o;
}

}  // namespace tamis::milter
