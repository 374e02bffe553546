#include "features/hops.hpp"

#include <string>
#include <utility>

#include "core/net.hpp"
#include "core/strings.hpp"

namespace tamis::features {
namespace {

constexpr std::size_t kHopBytes = 512;  // of one Received value read for its shape

bool ip_char(char c) { return core::is_alnum(c) || c == '.' || c == ':'; }

struct Hop {
  bool unknown_rdns = false;
  bool ip_only = false;
  std::string_view date;
};

Hop hop_of(std::string_view value) {
  std::string lv = core::lower(value.substr(0, kHopBytes));
  Hop h;
  h.unknown_rdns = lv.find("unknown") != std::string::npos;
  h.ip_only = lv.find("from [") != std::string::npos;
  if (auto semi = value.rfind(';'); semi != std::string_view::npos) h.date = value.substr(semi + 1);
  return h;
}

// Headers the header count leaves out: those final delivery adds, and
// verdicts claimed by whoever filtered the message before (or by tamisd).
bool uncounted_header(std::string_view lname) {
  return lname == "return-path" || lname == "delivered-to" || lname == "x-original-to" || lname.starts_with("x-spam-") ||
         lname.starts_with("x-tamis-");
}

// True if the Received header `value` is the one the relay itself writes for
// this connection: "from ... [client address] ... by <relay_host>". Postfix
// adds that header after the milter has seen the message; an MTA that passes
// it to the milter (Sendmail builds it before the milter runs) would
// otherwise have its hop counted twice, once from the envelope and once here.
bool relays_own_hop(std::string_view value, const core::Envelope& env) {
  std::string lv = core::lower(core::trim(value.substr(0, kHopBytes)));
  if (!lv.starts_with("from ")) return false;
  std::size_t by = lv.find(" by ");
  if (by == std::string::npos) return false;
  std::string_view by_host = std::string_view(lv).substr(by + 4);
  by_host = by_host.substr(0, by_host.find_first_of(" \t\r\n;("));
  if (by_host != core::lower(env.relay_host)) return false;
  std::string_view from = std::string_view(lv).substr(0, by);
  std::string ip = core::lower(env.client_ip);
  return from.find("[" + ip + "]") != std::string_view::npos || from.find("[ipv6:" + ip + "]") != std::string_view::npos;
}

}  // namespace

bool local_hop(std::string_view value) {
  std::string lv = core::lower(core::trim(value.substr(0, kHopBytes)));
  if (!lv.starts_with("from ")) return true;
  std::size_t by = lv.find(" by ");
  std::string_view from = std::string_view(lv).substr(5, by == std::string::npos ? std::string::npos : by - 5);
  if (by != std::string::npos) {
    std::string_view by_host = std::string_view(lv).substr(by + 4);
    by_host = by_host.substr(0, by_host.find_first_of(" \t;("));
    if (by_host == "localhost") return true;
  }
  bool public_ip = false, local_ip = false, localhost = false;
  for (std::size_t i = 0; i < from.size();) {
    if (!ip_char(from[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < from.size() && (ip_char(from[j]) || from[j] == '-')) ++j;
    std::string_view w = from.substr(i, j - i);
    i = j;
    if (w == "localhost" || w.starts_with("localhost.")) localhost = true;
    if (w.find_first_of(".:") == std::string_view::npos || !core::is_ip(w)) continue;
    (core::is_local_address(w) ? local_ip : public_ip) = true;
  }
  return !public_ip && (local_ip || localhost);
}

bool no_rdns(const core::Envelope& env) {
  return env.client_host.empty() || env.client_host == "unknown" || env.client_host.front() == '[';
}

HopCounts count_hops(const std::vector<mime::HeaderField>& headers, const core::Envelope& env) {
  HopCounts c;
  bool leading = true;    // still above the relay's hop
  bool own_hop = false;   // the first Received header may be the relay's own (see relays_own_hop)
  if (env.has_envelope && !env.client_ip.empty()) {
    if (!core::is_local_address(env.client_ip)) {
      leading = false;
      own_hop = !env.relay_host.empty();
      c.hops = c.headers = 1;
      c.unknown_rdns = no_rdns(env);
      c.ip_only = env.helo.starts_with('[');
      c.relay_time = env.received_time;
    }
  }
  for (const auto& f : headers) {
    if (uncounted_header(f.lname)) {
      c.trace_bytes += f.bytes;
      continue;
    }
    if (f.lname != "received") {
      ++c.headers;
      continue;
    }
    c.trace_bytes += f.bytes;
    if (std::exchange(own_hop, false) && relays_own_hop(f.value, env)) continue;  // counted from the envelope
    if (leading && local_hop(f.value)) continue;
    leading = false;
    Hop h = hop_of(f.value);
    ++c.headers;
    ++c.hops;
    c.unknown_rdns += h.unknown_rdns;
    c.ip_only += h.ip_only;
    if (c.relay_time == 0 && c.first_date.empty()) c.first_date = h.date;
  }
  return c;
}

HopCounts count_every_hop(const std::vector<mime::HeaderField>& headers) {
  HopCounts c;
  c.headers = headers.size();
  for (const auto& f : headers) {
    if (f.lname != "received") continue;
    Hop h = hop_of(f.value);
    if (c.hops++ == 0) c.first_date = h.date;
    c.unknown_rdns += h.unknown_rdns;
    c.ip_only += h.ip_only;
  }
  return c;
}

}  // namespace tamis::features
