#include "protocol.hpp"

#include <arpa/inet.h>
#include <syslog.h>

#include <cstring>

namespace tamis::milter {

namespace wire {
std::string packet(char cmd, std::string_view data) {
  std::uint32_t len = htonl(static_cast<std::uint32_t>(data.size() + 1));
  std::string p(reinterpret_cast<const char*>(&len), 4);
  p += cmd;
  p.append(data);
  return p;
}
}  // namespace wire

namespace {

std::uint32_t be32(std::string_view d, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, d.data() + at, 4);
  return ntohl(v);
}

void put32(std::string& s, std::uint32_t v) {
  v = htonl(v);
  s.append(reinterpret_cast<const char*>(&v), 4);
}

// The NUL-terminated strings of a packet's data (a missing final NUL ends
// the last one at the end of the data).
std::vector<std::string_view> strings(std::string_view d) {
  std::vector<std::string_view> v;
  while (!d.empty()) {
    auto z = d.find('\0');
    v.push_back(d.substr(0, z));
    if (z == std::string_view::npos) break;
    d.remove_prefix(z + 1);
  }
  return v;
}

std::string_view unbrace(std::string_view n) {
  if (n.size() >= 2 && n.front() == '{' && n.back() == '}') return n.substr(1, n.size() - 2);
  return n;
}

}  // namespace

// The verdict's requests, written as reply packets at end of message.
class MilterProtocol::WireMta : public Mta {
 public:
  WireMta(MilterProtocol& p, std::string& out) : p_(p), out_(out) {}
  const char* macro(const char* name) override { return p_.macro(name ? name : ""); }
  bool add_header(const std::string& name, const std::string& value) override {
    if (!(p_.actions_ & wire::kActAddHdrs) || name.empty()) return false;
    out_ += wire::packet(wire::kAddHeader, name + '\0' + spaced(value) + '\0');
    return true;
  }
  bool change_header(const std::string& name, int index, const std::string* value) override {
    if (!(p_.actions_ & wire::kActChgHdrs) || name.empty() || index < 1) return false;
    std::string d;
    put32(d, static_cast<std::uint32_t>(index));
    d += name + '\0' + (value ? spaced(*value) : std::string()) + '\0';  // empty value: delete
    out_ += wire::packet(wire::kChgHeader, d);
    return true;
  }
  bool set_reply(const char* rcode, const char* xcode, const std::string& text) override {
    if (!rcode || std::strlen(rcode) != 3 || (rcode[0] != '4' && rcode[0] != '5')) return false;
    std::string r = std::string(rcode) + " " + (xcode ? xcode : "") + " ";
    for (char c : text) {
      if (c == '%') r += "%%";  // the MTA treats the reply as a printf format (Sendmail) or undoubles it (Postfix)
      else if (c == '\r' || c == '\n' || c == '\0') r += ' ';
      else r += c;
    }
    p_.reply_text_ = std::move(r);
    return true;
  }
  bool quarantine(const std::string& reason) override {
    if (!(p_.actions_ & wire::kActQuarantine)) return false;
    out_ += wire::packet(wire::kQuarantine, reason + '\0');
    return true;
  }

 private:
  // With SMFIP_HDR_LEADSPC the MTA writes values as given: give them their space.
  std::string spaced(const std::string& v) const {
    if (!(p_.proto_ & wire::kHdrLeadSpc) || (!v.empty() && (v[0] == ' ' || v[0] == '\t'))) return v;
    return " " + v;
  }
  MilterProtocol& p_;
  std::string& out_;
};

const char* MilterProtocol::macro(std::string_view name) const {
  std::string_view want = unbrace(name);
  for (std::size_t s = kStages; s-- > 0;)
    for (const auto& [k, v] : macros_[s])
      if (unbrace(k) == want) return v.c_str();
  return nullptr;
}

void MilterProtocol::clear_macros_from(std::size_t stage) {
  for (std::size_t s = stage; s < kStages; ++s) macros_[s].clear();
}

std::size_t MilterProtocol::parse(std::string_view in, std::string& out, bool& open) {
  std::size_t pos = 0;
  while (open && in.size() - pos >= 4) {
    std::uint32_t len = be32(in, pos);
    if (len == 0 || len > wire::kMaxPacket) {
      open = fail("bad packet length " + std::to_string(len));
      break;
    }
    if (in.size() - pos < 4 + static_cast<std::size_t>(len)) break;
    char cmd = in[pos + 4];
    std::string_view d = in.substr(pos + 5, len - 1);
    pos += 4 + len;
    open = dispatch(cmd, d, out);
  }
  return pos;
}

bool MilterProtocol::feed(const char* data, std::size_t n, std::string& out) {
  bool open = true;
  if (buf_.empty()) {
    // The usual case: whole packets straight from the read buffer, and only
    // an incomplete last one is copied.
    std::string_view in(data, n);
    std::size_t used = parse(in, out, open);
    if (open && used < n) buf_.assign(in.substr(used));
    return open;
  }
  buf_.append(data, n);
  std::size_t used = parse(buf_, out, open);
  if (used == buf_.size() || !open) {
    // Consumed. Give back a large buffer (a long body packet, up to 1 MiB)
    // instead of keeping the largest one this connection ever saw: Postfix
    // keeps a milter connection for many messages, and 50 connections each
    // holding their high-water mark showed as heap that kept growing.
    if (buf_.capacity() > kKeepBuffer) std::string().swap(buf_);
    else buf_.clear();
  } else if (used > 0) {
    buf_.erase(0, used);
  }
  return open;
}

bool MilterProtocol::negotiate(std::string_view d, std::string& out) {
  if (d.size() < 12) return fail("short OPTNEG packet");
  std::uint32_t version = be32(d, 0), mta_actions = be32(d, 4), mta_proto = be32(d, 8);
  if (version < 2) return fail("MTA milter protocol version " + std::to_string(version) + " is too old");
  const std::uint32_t need = wire::kActAddHdrs | wire::kActChgHdrs;
  if ((mta_actions & need) != need) {
    log_(LOG_ERR, "the MTA does not offer the add/change header actions tamisd needs; not filtering this connection");
    return fail("MTA lacks header actions");
  }
  actions_ = need | (mta_actions & wire::kActQuarantine);
  // Steps whose Continue the MTA need not wait for, and options we use; only
  // what the MTA offers. Unknown commands and DATA are not wanted at all.
  const std::uint32_t nr = wire::kNrConn | wire::kNrHelo | wire::kNrRcpt | wire::kNrHdr | wire::kNrEoh;
  const std::uint32_t opts = wire::kSkip | wire::kHdrLeadSpc | wire::kNoUnknown | wire::kNoData;
  proto_ = mta_proto & (nr | opts);
  negotiated_ = true;
  conn_.emplace(store_, stats_, log_, (proto_ & wire::kSkip) != 0, pool_);
  std::string r;
  put32(r, std::min<std::uint32_t>(version, wire::kVersion));
  put32(r, actions_);
  put32(r, proto_);
  out += wire::packet(wire::kOptNeg, r);
  return true;
}

// Runs one step of the Connection; an exception becomes the failure policy
// (or, in a step the MTA does not wait on, an error answered at end of message).
template <typename F>
Step MilterProtocol::guarded(const char* where, std::uint32_t nr_flag, F&& f) noexcept {
  bool noreply = nr_flag != 0 && (proto_ & nr_flag) != 0;
  try {
    return f(*conn_);
  } catch (const std::exception& e) {
    if (noreply) { conn_->defer_error(where, e.what()); return Step::Continue; }
    try { return conn_->on_internal_error(where, e.what()); } catch (...) { return Step::Accept; }
  } catch (...) {
    if (noreply) { conn_->defer_error(where, "unknown exception"); return Step::Continue; }
    try { return conn_->on_internal_error(where, "unknown exception"); } catch (...) { return Step::Accept; }
  }
}

void MilterProtocol::reply(Step s, std::uint32_t nr_flag, std::string& out) {
  bool noreply = nr_flag != 0 && (proto_ & nr_flag) != 0;
  if (noreply) {
    // The MTA is not listening for a reply to this step: a verdict other
    // than Continue waits for end of message (Connection::defer_error).
    reply_text_.clear();
    return;
  }
  char c = wire::kContinue;
  switch (s) {
    case Step::Continue: c = wire::kContinue; break;
    case Step::Accept: c = wire::kAccept; break;
    case Step::Reject: c = wire::kReject; break;
    case Step::TempFail: c = wire::kTempFail; break;
    case Step::Discard: c = wire::kDiscard; break;
    case Step::Skip: c = (proto_ & wire::kSkip) ? wire::kSkipReply : wire::kContinue; break;
  }
  // A reply text replaces a bare reject/tempfail when its class matches.
  if ((c == wire::kReject && reply_text_.starts_with('5')) || (c == wire::kTempFail && reply_text_.starts_with('4')))
    out += wire::packet(wire::kReplyCode, reply_text_ + '\0');
  else
    out += wire::packet(c);
  reply_text_.clear();
}

bool MilterProtocol::dispatch(char cmd, std::string_view d, std::string& out) {
  if (cmd == wire::kOptNeg) {
    if (negotiated_) return fail("second OPTNEG");
    return negotiate(d, out);
  }
  if (!negotiated_) return fail(std::string("command '") + cmd + "' before OPTNEG");
  switch (cmd) {
    case wire::kMacro: {
      if (d.empty()) return true;
      Stage st;
      switch (d[0]) {
        case wire::kConnect: st = kStConnect; break;
        case wire::kHelo: st = kStHelo; break;
        case wire::kMail: st = kStMail; break;
        case wire::kRcpt: st = kStRcpt; break;
        case wire::kData: st = kStData; break;
        case wire::kEoh: st = kStEoh; break;
        case wire::kBodyEob: st = kStEom; break;
        default: return true;  // header and body macros: not used
      }
      if (st == kStMail) clear_macros_from(kStMail);  // a new transaction
      auto v = strings(d.substr(1));
      auto& m = macros_[st];
      m.clear();
      for (std::size_t i = 0; i + 1 < v.size(); i += 2) m.emplace_back(std::string(v[i]), std::string(v[i + 1]));
      return true;
    }
    case wire::kConnect: {
      // hostname \0, family ('4' '6' 'L' 'U'), [port (2 bytes), address \0]
      auto z = d.find('\0');
      std::string host(d.substr(0, z));
      std::string ip;
      if (z != std::string_view::npos && z + 1 < d.size()) {
        char fam = d[z + 1];
        if ((fam == '4' || fam == '6') && z + 4 <= d.size()) {
          std::string_view a = d.substr(z + 4);
          a = a.substr(0, a.find('\0'));
          if (a.starts_with("IPv6:")) a.remove_prefix(5);
          std::string as(a);
          unsigned char b[16];
          if (inet_pton(fam == '4' ? AF_INET : AF_INET6, as.c_str(), b) == 1) ip = as;
        }
      }
      Step s = guarded("connect", wire::kNrConn, [&](Connection& c) { return c.connect(host.c_str(), ip); });
      reply(s, wire::kNrConn, out);
      return true;
    }
    case wire::kHelo: {
      std::string h(d.substr(0, d.find('\0')));
      reply(guarded("helo", wire::kNrHelo, [&](Connection& c) { return c.helo(h.c_str()); }), wire::kNrHelo, out);
      return true;
    }
    case wire::kMail: {
      auto v = strings(d);
      std::string from = v.empty() ? std::string() : std::string(v[0]);
      WireMta m(*this, out);
      reply(guarded("envfrom", 0, [&](Connection& c) { return c.envfrom(m, from.c_str()); }), 0, out);
      return true;
    }
    case wire::kRcpt: {
      auto v = strings(d);
      std::string to = v.empty() ? std::string() : std::string(v[0]);
      reply(guarded("envrcpt", wire::kNrRcpt, [&](Connection& c) { return c.envrcpt(to.c_str()); }), wire::kNrRcpt, out);
      return true;
    }
    case wire::kData:
      reply(Step::Continue, wire::kNrData, out);
      return true;
    case wire::kHeader: {
      auto v = strings(d);
      std::string name = v.size() > 0 ? std::string(v[0]) : std::string();
      std::string value = v.size() > 1 ? std::string(v[1]) : std::string();
      reply(guarded("header", wire::kNrHdr, [&](Connection& c) { return c.header(name.c_str(), value.c_str()); }),
            wire::kNrHdr, out);
      return true;
    }
    case wire::kEoh:
      reply(guarded("eoh", wire::kNrEoh, [&](Connection& c) { return c.eoh(); }), wire::kNrEoh, out);
      return true;
    case wire::kBody: {
      auto* p = reinterpret_cast<const unsigned char*>(d.data());
      reply(guarded("body", 0, [&](Connection& c) { return c.body(p, d.size()); }), 0, out);
      return true;
    }
    case wire::kBodyEob: {
      // A final chunk may ride on end of message.
      if (!d.empty()) {
        auto* p = reinterpret_cast<const unsigned char*>(d.data());
        try {
          conn_->body(p, d.size());
        } catch (const std::exception& e) {
          conn_->defer_error("body", e.what());  // answered by eom below
        } catch (...) {
          conn_->defer_error("body", "unknown exception");
        }
      }
      WireMta m(*this, out);
      reply(guarded("eom", 0, [&](Connection& c) { return c.eom(m); }), 0, out);
      clear_macros_from(kStMail);
      return true;
    }
    case wire::kAbort:
      guarded("abort", 0, [&](Connection& c) { return c.abort(); });
      reply_text_.clear();
      clear_macros_from(kStMail);
      return true;  // no reply to abort
    case wire::kUnknown:
      reply(Step::Continue, wire::kNrUnkn, out);
      return true;
    case wire::kQuitNc:
      // The MTA reuses this connection for a new SMTP client: start over
      // from CONNECT with the same negotiation.
      conn_.emplace(store_, stats_, log_, (proto_ & wire::kSkip) != 0, pool_);
      clear_macros_from(kStConnect);
      reply_text_.clear();
      return true;
    case wire::kQuit:
      close_reason_.clear();
      return false;
    default:
      return fail(std::string("unknown command 0x") + "0123456789abcdef"[(cmd >> 4) & 0xf] + "0123456789abcdef"[cmd & 0xf]);
  }
}

}  // namespace tamis::milter
