// The milter wire protocol: bytes as Postfix sends them in, reply packets out.
// (Real MTAs drive it in tests/integration: Postfix and miltertest.)
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <cstring>

#include "protocol.hpp"
#include "support.hpp"

using namespace tamis;
namespace w = tamis::milter::wire;

namespace {

engine::SnapshotPtr snap(const std::function<void(config::Config&)>& tweak = {}) { return test::milter_snapshot(tweak); }

std::string u32(std::uint32_t v) {
  v = htonl(v);
  return std::string(reinterpret_cast<const char*>(&v), 4);
}

std::string z(std::initializer_list<std::string> parts) {  // NUL-terminated strings
  std::string s;
  for (const auto& p : parts) s += p + '\0';
  return s;
}

const std::uint32_t kAllActions = 0x1ff;
const std::uint32_t kPostfixProto = 0x1fffff;  // everything Postfix 3.7 offers

std::string optneg(std::uint32_t actions = kAllActions, std::uint32_t proto = kPostfixProto) {
  return w::packet(w::kOptNeg, u32(6) + u32(actions) + u32(proto));
}

// One SMTP transaction as Postfix sends it (macros before their step).
std::string transaction(const std::string& subject, std::vector<std::string> extra_headers = {},
                        const std::string& mail_macros = z({"i", "4AB12C3D", "{mail_addr}", "a@example.org"})) {
  std::string s;
  s += w::packet(w::kMacro, std::string(1, w::kMail) + mail_macros);
  s += w::packet(w::kMail, z({"<a@example.org>", "SIZE=100"}));
  s += w::packet(w::kMacro, std::string(1, w::kRcpt) + z({"{rcpt_addr}", "b@example.net"}));
  s += w::packet(w::kRcpt, z({"<b@example.net>"}));
  s += w::packet(w::kHeader, z({"From", " a@example.org"}));
  s += w::packet(w::kHeader, z({"To", " b@example.net"}));
  s += w::packet(w::kHeader, z({"Subject", " " + subject}));
  s += w::packet(w::kHeader, z({"Message-ID", " <1@example.org>"}));
  s += w::packet(w::kHeader, z({"Date", " Tue, 24 Nov 2026 10:00:00 +0000"}));
  for (const auto& h : extra_headers) {
    auto c = h.find(':');
    s += w::packet(w::kHeader, z({h.substr(0, c), h.substr(c + 1)}));
  }
  s += w::packet(w::kEoh);
  s += w::packet(w::kBody, "Hello Bob,\r\nthe minutes of Tuesday's meeting are attached below.\r\n");
  s += w::packet(w::kMacro, std::string(1, w::kBodyEob) + z({"i", "4AB12C3D"}));
  s += w::packet(w::kBodyEob);
  return s;
}

std::string connect_helo() {
  return w::packet(w::kConnect, z({"mx.example.org"}) + "4" + std::string("\x00\x19", 2) + z({"192.0.2.1"})) +
         w::packet(w::kHelo, z({"mx.example.org"}));
}

struct Packet {
  char cmd;
  std::string data;
};

std::vector<Packet> parse(const std::string& out) {
  std::vector<Packet> v;
  std::size_t i = 0;
  while (i + 5 <= out.size()) {
    std::uint32_t len;
    std::memcpy(&len, out.data() + i, 4);
    len = ntohl(len);
    REQUIRE(i + 4 + len <= out.size());
    v.push_back({out[i + 4], out.substr(i + 5, len - 1)});
    i += 4 + len;
  }
  REQUIRE(i == out.size());
  return v;
}

std::string cmds(const std::vector<Packet>& v) {
  std::string s;
  for (const auto& p : v) s += p.cmd;
  return s;
}

struct Session {
  milter::Stats stats;
  std::vector<std::string> log;
  engine::SnapshotStore store;
  milter::MilterProtocol proto;
  explicit Session(engine::SnapshotPtr s = snap())
      : store(std::move(s)), proto(store, stats, [this](int, const std::string& l) { log.push_back(l); }) {}
  std::vector<Packet> feed(const std::string& bytes, bool* open = nullptr) {
    std::string out;
    bool o = proto.feed(bytes.data(), bytes.size(), out);
    if (open) *open = o;
    return parse(out);
  }
};

}  // namespace

TEST_CASE("milter protocol: negotiation takes only what the MTA offers and tamisd needs", "[milter]") {
  Session s;
  auto r = s.feed(optneg());
  REQUIRE(cmds(r) == "O");
  REQUIRE(r[0].data.size() == 12);
  CHECK(r[0].data.substr(0, 4) == u32(6));
  CHECK(r[0].data.substr(4, 4) == u32(w::kActAddHdrs | w::kActChgHdrs | w::kActQuarantine));
  std::uint32_t p = s.proto.protocol_flags();
  CHECK(r[0].data.substr(8, 4) == u32(p));
  for (auto f : {w::kNrConn, w::kNrHelo, w::kNrRcpt, w::kNrHdr, w::kNrEoh, w::kSkip, w::kHdrLeadSpc, w::kNoUnknown, w::kNoData})
    CHECK((p & f) == f);
  // Steps whose reply carries a decision are never no-reply; no step tamisd reads is switched off.
  for (auto f : {w::kNrMail, w::kNrBody, w::kNoConnect, w::kNoHelo, w::kNoMail, w::kNoRcpt, w::kNoHdrs, w::kNoEoh, w::kNoBody})
    CHECK((p & f) == 0);

  Session old;  // an MTA offering nothing optional (protocol 2 style), no quarantine
  auto r2 = old.feed(w::packet(w::kOptNeg, u32(2) + u32(w::kActAddHdrs | w::kActChgHdrs) + u32(0)));
  REQUIRE(cmds(r2) == "O");
  CHECK(r2[0].data == u32(2) + u32(w::kActAddHdrs | w::kActChgHdrs) + u32(0));
}

TEST_CASE("milter protocol: an MTA without the header actions is refused and the connection closed", "[milter]") {
  Session s;
  bool open = true;
  auto r = s.feed(optneg(w::kActAddHdrs), &open);
  CHECK_FALSE(open);
  CHECK(r.empty());
  CHECK_FALSE(s.proto.close_reason().empty());
  REQUIRE(s.log.size() == 1);
  CHECK(s.log[0].find("add/change header") != std::string::npos);
}

TEST_CASE("milter protocol: with Postfix's no-reply steps only MAIL, BODY and end of message are answered", "[milter]") {
  Session s;
  s.feed(optneg());
  auto r = s.feed(connect_helo() + transaction("minutes of the meeting"));
  // MAIL -> continue, BODY -> continue, EOM -> X-Spam-Status header then continue.
  REQUIRE(cmds(r) == "cchc");
  CHECK(r[2].data.starts_with(std::string("X-Spam-Status") + '\0' + " No, score="));  // leading space: SMFIP_HDR_LEADSPC
  CHECK(s.stats.accepted == 1);
  REQUIRE(s.log.size() == 1);
  CHECK(s.log[0].find("queue_id=4AB12C3D") != std::string::npos);  // from the macros
  CHECK(s.log[0].find("client=192.0.2.1") != std::string::npos);   // from CONNECT
}

TEST_CASE("milter protocol: without no-reply steps (miltertest, Sendmail) every step is answered", "[milter]") {
  Session s;
  s.feed(optneg(kAllActions, 0));
  auto r = s.feed(connect_helo() + transaction("minutes of the meeting"));
  // CONNECT HELO MAIL RCPT, 5 headers, EOH, BODY, then EOM's header and reply.
  CHECK(cmds(r) == "ccccccccccchc");
  // Without SMFIP_HDR_LEADSPC the MTA adds the space itself.
  CHECK(r[11].data.starts_with(std::string("X-Spam-Status") + '\0' + "No, score="));
}

TEST_CASE("milter protocol: a reject carries 550 5.7.1 and the reference, as one reply-code packet", "[milter]") {
  Session s;
  s.feed(optneg());
  auto r = s.feed(connect_helo() + transaction("please reject-me"));
  REQUIRE(cmds(r) == "ccy");
  CHECK(r[2].data.starts_with("550 5.7.1 Message rejected as spam (ref 4AB12C3D)"));
  CHECK(r[2].data.back() == '\0');
  CHECK(s.stats.rejected == 1);
}

TEST_CASE("milter protocol: incoming X-Spam-* headers are deleted by index before tamisd adds its own", "[milter]") {
  Session s;
  s.feed(optneg());
  auto r = s.feed(connect_helo() + transaction("minutes", {"X-Spam-Flag: NO", "X-Spam-Flag: NO"}));
  REQUIRE(cmds(r) == "ccmmhc");
  // Deleting: index, name, empty value; the highest index first.
  CHECK(r[2].data == u32(2) + z({"X-Spam-Flag", ""}));
  CHECK(r[3].data == u32(1) + z({"X-Spam-Flag", ""}));
}

TEST_CASE("milter protocol: any split of the byte stream gives the same replies", "[milter]") {
  std::string stream = optneg() + connect_helo() + transaction("minutes") + transaction("please reject-me");
  Session whole;
  std::string a;
  REQUIRE(whole.proto.feed(stream.data(), stream.size(), a));
  for (std::size_t step : {1u, 3u, 7u, 64u}) {
    Session bytewise;
    std::string b;
    for (std::size_t i = 0; i < stream.size(); i += step)
      REQUIRE(bytewise.proto.feed(stream.data() + i, std::min(step, stream.size() - i), b));
    // The reference of the reject is the queue id, so both runs write the same bytes.
    CHECK(b == a);
  }
  CHECK(cmds(parse(a)) == "O" "cchc" "ccy");
}

TEST_CASE("milter protocol: a long packet read in pieces is buffered, then its buffer given back", "[milter][bounds]") {
  // Postfix keeps one milter connection for many messages: a connection must
  // not keep the buffer of the largest packet it ever saw (Postfix sends
  // body chunks of up to 64 KB).
  std::string t = transaction("minutes");
  std::string big = w::packet(w::kBody, std::string(40 * 1024, 'x') + "\r\n");
  auto body_at = t.find(w::packet(w::kBody, "Hello Bob,\r\nthe minutes of Tuesday's meeting are attached below.\r\n"));
  REQUIRE(body_at != std::string::npos);
  std::string head = optneg() + connect_helo() + t.substr(0, body_at);
  std::string stream = head + big + t.substr(body_at);
  Session s;
  std::string out;
  std::size_t cut = head.size() + 1000;  // inside the big packet
  REQUIRE(s.proto.feed(stream.data(), cut, out));
  CHECK(s.proto.buffer_capacity() >= 1000);
  std::size_t peak = 0;
  for (std::size_t i = cut; i < stream.size(); i += 16 * 1024) {
    REQUIRE(s.proto.feed(stream.data() + i, std::min<std::size_t>(16 * 1024, stream.size() - i), out));
    peak = std::max(peak, s.proto.buffer_capacity());
  }
  CHECK(peak > 32 * 1024);  // most of it was held while incomplete
  CHECK(s.proto.buffer_capacity() <= 16 * 1024);
  CHECK(cmds(parse(out)).back() == 'c');  // end of message answered
}

TEST_CASE("milter protocol: authenticated senders are accepted at MAIL from the macros", "[milter]") {
  Session s;
  s.feed(optneg());
  auto r = s.feed(connect_helo() + transaction("please reject-me", {}, z({"i", "Q1", "{auth_authen}", "alice"})));
  // MAIL -> accept; Postfix then sends nothing more for this message, but a
  // stream that does (as here) still gets answers and never a reject.
  REQUIRE(!r.empty());
  CHECK(r[0].cmd == w::kAccept);
  CHECK(s.stats.bypassed == 1);
  CHECK(s.stats.rejected == 0);
  // The macro lookup takes names with or without braces; MAIL macros end with the message.
  Session t;
  t.feed(optneg());
  t.feed(connect_helo() + w::packet(w::kMacro, std::string(1, w::kMail) + z({"{auth_authen}", "bob"})));
  CHECK(std::string(t.proto.macro("auth_authen")) == "bob");
  CHECK(std::string(t.proto.macro("{auth_authen}")) == "bob");
  t.feed(w::packet(w::kAbort));
  CHECK(t.proto.macro("auth_authen") == nullptr);
}

TEST_CASE("milter protocol: a body past the scan cap is answered with skip where negotiated", "[milter]") {
  Session s(snap([](config::Config& c) { c.limits.max_scan_bytes = 4096; }));
  s.feed(optneg());
  std::string t = transaction("minutes");
  // Insert two 3 KB body chunks before end of message.
  auto eob = t.find(w::packet(w::kMacro, std::string(1, w::kBodyEob) + z({"i", "4AB12C3D"})));
  std::string chunk = w::packet(w::kBody, std::string(3000, 'x') + "\r\n");
  t.insert(eob, chunk + chunk);
  auto r = s.feed(connect_helo() + t);
  // MAIL, the short first chunk and the first 3 KB one (still under the cap),
  // a skip for the chunk that crosses it, then the verdict.
  CHECK(cmds(r) == "cccshc");
}

TEST_CASE("milter protocol: broken streams close the connection with a reason, never crash", "[milter][bounds]") {
  struct Case {
    const char* name;
    std::string bytes;
  };
  std::string big_len = u32(static_cast<std::uint32_t>(w::kMaxPacket + 1)) + "B";
  for (const auto& c : {Case{"command before OPTNEG", w::packet(w::kHelo, z({"x"}))},
                        Case{"zero length", optneg() + u32(0)},
                        Case{"packet over the 1 MiB bound", optneg() + big_len},
                        Case{"unknown command", optneg() + w::packet('Z', "??")},
                        Case{"second OPTNEG", optneg() + optneg()},
                        Case{"short OPTNEG", w::packet(w::kOptNeg, "abc")}}) {
    INFO(c.name);
    Session s;
    std::string out;
    CHECK_FALSE(s.proto.feed(c.bytes.data(), c.bytes.size(), out));
    CHECK_FALSE(s.proto.close_reason().empty());
  }
  // QUIT closes cleanly, without a reason to log.
  Session q;
  std::string out, bytes = optneg() + w::packet(w::kQuit);
  CHECK_FALSE(q.proto.feed(bytes.data(), bytes.size(), out));
  CHECK(q.proto.close_reason().empty());
}

TEST_CASE("milter protocol: truncated packets and odd payloads are read safely", "[milter][bounds]") {
  Session s;
  s.feed(optneg());
  // CONNECT with no family, with a bad address, HELO without NUL, MAIL with no args,
  // a header with no value, a macro packet with an odd count: all tolerated.
  std::string bytes = w::packet(w::kConnect, "host-only") + w::packet(w::kConnect, z({"h"}) + "4\x00\x19" + z({"not-an-ip"})) +
                      w::packet(w::kHelo, "no-nul") + w::packet(w::kMail, "") + w::packet(w::kHeader, "Subject") +
                      w::packet(w::kMacro, std::string(1, w::kMail) + z({"i"})) + w::packet(w::kEoh) + w::packet(w::kBodyEob, "tail");
  bool open = false;
  auto r = s.feed(bytes, &open);
  CHECK(open);
  CHECK(cmds(r).back() == w::kContinue);  // a verdict at end of message
  // A packet cut short waits for the rest instead of being read past its end.
  Session t;
  t.feed(optneg());
  std::string p = w::packet(w::kHelo, z({"mx.example.org"}));
  std::string out;
  CHECK(t.proto.feed(p.data(), p.size() - 3, out));
  CHECK(out.empty());
}

TEST_CASE("milter protocol: QUIT_NC starts a new SMTP connection on the same socket", "[milter]") {
  Session s;
  s.feed(optneg());
  auto r = s.feed(connect_helo() + transaction("minutes") + w::packet(w::kQuitNc) + connect_helo() +
                  transaction("please reject-me"));
  CHECK(cmds(r) == "cchc" "ccy");
  CHECK(s.stats.messages == 2);
}
