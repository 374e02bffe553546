#include "features/hops.hpp"

#include <algorithm>
#include <string>

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

// A Received value as its shape is read: the first kHopBytes, lower case,
// folding whitespace as spaces (Sendmail folds before "by" with a tab).
std::string hop_text(std::string_view value) {
  std::string s = core::lower(value.substr(0, kHopBytes));
  for (char& c : s)
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
  return s;
}

// Sendmail's record of a client without a reverse name: "from HELO ([addr])"
// where Postfix writes "from HELO (unknown [addr])". Exim writes the same shape
// for a client whose reverse name is its HELO, so the hop must also carry
// Sendmail's version comment after its "by" host: "(8.17.1.9/8.17.1.9)".
// `text`: hop_text of the value.
bool sendmail_without_rdns(std::string_view text) {
  std::string_view v = core::trim(text);
  if (!v.starts_with("from ")) return false;
  const std::size_t open = v.find_first_not_of(' ', v.find(' ', 5));
  if (open == std::string_view::npos || v.substr(open, 2) != "([") return false;
  const std::size_t close = v.find("])", open);
  if (close == std::string_view::npos || v.find_first_of(" (", open + 2) < close) return false;
  const std::size_t by = v.find(" by ", close);
  if (by == std::string_view::npos) return false;
  std::string_view rest = core::trim(v.substr(by + 4));
  rest = core::trim(rest.substr(std::min(rest.find(' '), rest.size())));  // past the by host
  if (!rest.starts_with('(')) return false;
  std::string_view version = rest.substr(1, rest.find('/') - 1);  // "8.17.1.9" of "(8.17.1.9/8.17.1.9/Debian-2)"
  if (rest.find('/') > rest.find(')')) return false;
  if (version.starts_with("switch-")) version.remove_prefix(7);  // Sendmail Switch: "(Switch-3.1.6/Switch-3.1.6)"
  return !version.empty() && core::is_digit(version.front()) && version.find('.') != std::string_view::npos &&
         version.find_first_not_of("0123456789.") == std::string_view::npos;
}

Hop hop_of(std::string_view value, bool sendmail_form) {
  std::string lv = core::lower(value.substr(0, kHopBytes));
  Hop h;
  h.unknown_rdns = lv.find("unknown") != std::string::npos || (sendmail_form && sendmail_without_rdns(hop_text(value)));
  h.ip_only = lv.find("from [") != std::string::npos;
  if (auto semi = value.rfind(';'); semi != std::string_view::npos) h.date = value.substr(semi + 1);
  return h;
}

// The host after " by " of a lower-case Received value ("" without one).
std::string_view by_host(std::string_view lv) {
  const std::size_t by = lv.find(" by ");
  if (by == std::string_view::npos) return {};
  std::string_view h = lv.substr(by + 4);
  return h.substr(0, h.find_first_of(" \t;("));
}

// Sendmail's note of a client that never said HELO, which it adds below its
// own Received header: "X-Authentication-Warning: RELAY: CLIENT [addr] didn't
// use HELO protocol". Not in the session (the milter never sees it), so in a
// stored copy the one the relay wrote (`relay_host`: the "by" host of its
// hop) is not counted either. Upstream hops' warnings are counted.
bool relay_no_helo_warning(std::string_view value, std::string_view relay_host) {
  if (relay_host.empty()) return false;
  std::string lv = hop_text(value);
  lv.erase(std::unique(lv.begin(), lv.end(), [](char a, char b) { return a == ' ' && b == ' '; }), lv.end());
  const std::string_view v = core::trim(lv);  // folded anywhere: one space between words
  return v.starts_with(relay_host) && v.substr(relay_host.size()).starts_with(':') &&
         v.find("didn't use helo protocol") != std::string_view::npos;
}

// Headers the header count leaves out: those final delivery adds, and
// verdicts claimed by whoever filtered the message before (or by tamisd).
bool uncounted_header(std::string_view lname) {
  return lname == "return-path" || lname == "delivered-to" || lname == "x-original-to" || lname.starts_with("x-spam-") ||
         lname.starts_with("x-tamis-");
}

}  // namespace

bool local_hop(std::string_view value) {
  std::string lv = core::lower(core::trim(value.substr(0, kHopBytes)));
  if (!lv.starts_with("from ")) return true;
  std::size_t by = lv.find(" by ");
  std::string_view from = std::string_view(lv).substr(5, by == std::string::npos ? std::string::npos : by - 5);
  if (by_host(lv) == "localhost") return true;
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

RelayHop relay_of(std::string_view received) {
  const std::string text = hop_text(received);
  std::string_view v = core::trim(text);
  RelayHop r;
  if (!v.starts_with("from ")) return r;
  v.remove_prefix(5);
  v = core::trim(v);
  const std::string_view first = v.substr(0, std::min(v.find_first_of(" ("), v.size()));
  std::string_view rest = core::trim(v.substr(first.size()));
  if (first.empty() || !rest.starts_with('(')) return r;
  const std::string_view comment = rest.substr(1, rest.find(')') - 1);
  auto word_after = [](std::string_view s, std::string_view key) {
    s = s.substr(s.find(key) + key.size());
    return s.substr(0, std::min(s.find_first_of(" )"), s.size()));
  };
  auto strip_dot = [](std::string_view s) { return s.ends_with('.') ? s.substr(0, s.size() - 1) : s; };
  const bool literal = first.starts_with('[');
  if (comment.find("helo=") != std::string_view::npos) {  // Exim, HELO other than the name
    r.helo = word_after(comment, "helo=");
    r.host = literal ? "" : strip_dot(first);
  } else if (comment.starts_with("helo ")) {  // qmail
    r.helo = word_after(comment, "helo ");
    r.host = first == "unknown" ? "" : strip_dot(first);
  } else if (const std::size_t bracket = comment.find('['); bracket != std::string_view::npos) {
    const std::string_view name = core::trim(comment.substr(0, bracket));
    r.helo = first;
    if (!name.empty()) {
      r.host = name == "unknown" ? "" : strip_dot(name);  // Postfix, Sendmail, Gmail, Exim with port logging
    } else if (v.find("(exim") != std::string_view::npos) {
      r.host = literal ? "" : strip_dot(first);  // Exim: the verified name, HELO the same
    } else if (v.find("microsoft smtp") != std::string_view::npos) {
      return r;  // Exchange writes "from HELO ([addr])" whether or not there is a name
    } else {
      r.host = "";  // Sendmail, Gmail: no reverse name
    }
  } else if (!comment.empty() && comment.find_first_not_of("0123456789.") == std::string_view::npos) {
    r.helo = first;  // qmail, HELO the same as the name
    r.host = first == "unknown" ? "" : strip_dot(first);
  } else {
    return r;
  }
  r.known = !r.helo.empty();
  return r;
}

HopCounts count_hops(const std::vector<mime::HeaderField>& headers, const core::Envelope& env, bool sendmail_form) {
  HopCounts c;
  bool leading = true;  // still above the relay's hop
  if (env.has_envelope && !env.client_ip.empty()) {
    if (!core::is_local_address(env.client_ip)) {
      leading = false;
      c.hops = c.headers = 1;
      c.unknown_rdns = no_rdns(env);
      // A client that never said HELO: the MTA writes its name in the HELO
      // place of its Received header, and for a client without one Postfix
      // writes "unknown", Sendmail the "[addr]" both give the milter as the name
      std::string helo = env.helo;
      if (helo.empty())
        helo = env.client_host.empty() || (c.unknown_rdns && env.mta.starts_with("Postfix")) ? "unknown" : env.client_host;
      helo = core::lower(helo);
      c.ip_only = helo.starts_with('[');
      c.relay_time = env.received_time;
      c.relay = {true, helo, c.unknown_rdns ? std::string() : core::lower(env.client_host)};
    }
  }
  std::string relay_host;  // the "by" host of the relay's Received header
  for (const auto& f : headers) {
    if (uncounted_header(f.lname) ||
        (f.lname == "x-authentication-warning" && relay_no_helo_warning(f.value, relay_host))) {
      c.trace_bytes += f.bytes;
      continue;
    }
    if (f.lname != "received") {
      ++c.headers;
      continue;
    }
    c.trace_bytes += f.bytes;
    if (leading && local_hop(f.value)) continue;
    leading = false;
    Hop h = hop_of(f.value, sendmail_form);
    if (c.hops == 0) {
      c.relay = relay_of(f.value);
      relay_host = by_host(hop_text(f.value));
    }
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
    Hop h = hop_of(f.value, false);
    if (c.hops++ == 0) c.first_date = h.date;
    c.unknown_rdns += h.unknown_rdns;
    c.ip_only += h.ip_only;
  }
  return c;
}

}  // namespace tamis::features
