// tamisd's counters, and their Prometheus text rendering. Shared by every
// connection; updated once per message (atomics, and one short lock for the
// per-rule hit counts). The HTTP endpoint that serves render() lives in
// metrics_http.cpp; this part has no network code so tests can read it.
//
//   Stats s;  s.record(verdict, rule_hits, scan_us);
//   std::string text = render_prometheus(s, generation);
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace tamis::milter {

struct Stats {
  // Messages by what tamisd did (core::Action order), plus bypassed ones.
  std::atomic<std::uint64_t> messages{0}, accepted{0}, tagged{0}, rejected{0}, tempfailed{0}, quarantined{0},
      discarded{0}, bypassed{0};
  // Errors by kind: a scan that failed (failure policy applied) and
  // exceptions in callbacks.
  std::atomic<std::uint64_t> failures{0}, internal_errors{0}, scan_timeouts{0}, model_unavailable{0};
  std::atomic<std::uint64_t> reloads{0}, reload_failures{0};
  // MTA connections open now (a gauge), and those closed at once because
  // milter.max_connections was reached.
  std::atomic<std::uint64_t> connections{0}, connections_refused{0};
  std::atomic<std::uint64_t> generation{1};

  // Scan latency histogram (seconds; Prometheus cumulative buckets are
  // computed at render time from these per-bucket counts).
  static constexpr std::array<double, 12> kBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                   0.01,   0.025,   0.05,   0.1,   0.5,    2.0};
  std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> scan_bucket{};  // last one: +Inf
  std::atomic<std::uint64_t> scan_count{0}, scan_us_sum{0};

  void observe_scan_us(std::uint64_t us);
  // Rule hits by rule id. Ids come from the loaded rules (bounded by them).
  void count_rule_hits(const std::vector<std::string>& ids);
  std::map<std::string, std::uint64_t> rule_hits() const;

 private:
  mutable std::mutex rule_mu_;
  std::map<std::string, std::uint64_t> rule_hits_;
};

// The Prometheus text exposition format (version 0.0.4) of `s`.
std::string render_prometheus(const Stats& s);

}  // namespace tamis::milter
