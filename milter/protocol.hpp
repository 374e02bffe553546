// The Sendmail/Postfix milter wire protocol, filter side, without sockets:
// bytes from the MTA go in, reply bytes come out. tamisd's server
// (server.cpp) reads a socket into feed() and writes what it returns; tests
// and the fuzzer call feed() directly.
//
//   MilterProtocol p(store, stats, log);
//   std::string out;
//   bool open = p.feed(bytes, n, out);   // out: replies to write to the MTA
//   if (!open) close the connection (QUIT, protocol error, refused negotiation)
//
// Why not libmilter: Debian's libmilter reads every packet with poll + read
// of the 5-byte head + poll + read of the rest. Postfix sends a message as
// ~60 packets (a macro packet and a header packet per header line), so
// tamisd spent ~250 system calls and 2 ms of CPU per message on the protocol
// while the scan took 0.16 ms (measured, see bench/postfix_bench.py). Here
// one read() takes everything the MTA has sent, however many packets.
//
// The protocol (version 6, as Postfix and Sendmail 8.14+ speak it): each
// packet is a 4-byte big-endian length, a command byte, and length-1 bytes
// of data. The MTA opens with OPTNEG; tamisd answers with the actions it may
// take (add and change headers, quarantine) and the steps it wants no reply
// for (SMFIP_NR_*). Replies and header changes are sent at end of message.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "session.hpp"

namespace tamis::milter {

namespace wire {
// Commands, MTA to filter.
inline constexpr char kAbort = 'A', kBody = 'B', kConnect = 'C', kMacro = 'D', kBodyEob = 'E', kHelo = 'H',
                      kQuitNc = 'K', kHeader = 'L', kMail = 'M', kEoh = 'N', kOptNeg = 'O', kQuit = 'Q',
                      kRcpt = 'R', kData = 'T', kUnknown = 'U';
// Replies, filter to MTA.
inline constexpr char kAddHeader = 'h', kChgHeader = 'm', kInsHeader = 'i', kQuarantine = 'q', kAccept = 'a',
                      kContinue = 'c', kDiscard = 'd', kReject = 'r', kTempFail = 't', kReplyCode = 'y',
                      kSkipReply = 's', kProgress = 'p';
// Actions the filter may take (OPTNEG word 2).
inline constexpr std::uint32_t kActAddHdrs = 0x01, kActChgHdrs = 0x10, kActQuarantine = 0x20;
// Protocol flags (OPTNEG word 3): steps not sent, steps not answered, options.
inline constexpr std::uint32_t kNoConnect = 0x1, kNoHelo = 0x2, kNoMail = 0x4, kNoRcpt = 0x8, kNoBody = 0x10,
                               kNoHdrs = 0x20, kNoEoh = 0x40, kNrHdr = 0x80, kNoUnknown = 0x100, kNoData = 0x200,
                               kSkip = 0x400, kRcptRej = 0x800, kNrConn = 0x1000, kNrHelo = 0x2000,
                               kNrMail = 0x4000, kNrRcpt = 0x8000, kNrData = 0x10000, kNrUnkn = 0x20000,
                               kNrEoh = 0x40000, kNrBody = 0x80000, kHdrLeadSpc = 0x100000;
inline constexpr std::uint32_t kVersion = 6;
// Largest packet accepted. Postfix sends body chunks of at most 64 KiB and a
// header of at most header_size_limit (100 KiB by default); tamisd does not
// offer the larger-chunk options (SMFIP_MDS_*).
inline constexpr std::size_t kMaxPacket = 1u << 20;

// One packet: 4-byte big-endian length (command byte + data), command, data.
std::string packet(char cmd, std::string_view data = {});
}  // namespace wire

class MilterProtocol {
 public:
  MilterProtocol(const engine::SnapshotStore& store, Stats& stats, LogFn log, ScanPool* pool = nullptr)
      : store_(store), stats_(stats), log_(std::move(log)), pool_(pool) {}

  // Consumes `n` bytes from the MTA (any split: a packet may arrive in
  // pieces, many packets in one piece) and appends the replies to `out`.
  // Returns false when the connection must be closed; `out` still holds the
  // replies to send before closing.
  bool feed(const char* data, std::size_t n, std::string& out);

  // A macro's value as the MTA last sent it ("i", "{auth_authen}" or
  // "auth_authen"), searching the latest step first; nullptr if unknown.
  const char* macro(std::string_view name) const;

  bool negotiated() const { return negotiated_; }
  std::uint32_t protocol_flags() const { return proto_; }
  std::uint32_t actions() const { return actions_; }
  // Bytes of buffer held for an incomplete packet (a bound under test).
  std::size_t buffer_capacity() const { return buf_.capacity(); }
  // Why feed() returned false (empty after a clean QUIT).
  const std::string& close_reason() const { return close_reason_; }

 private:
  class WireMta;
  // Dispatches the whole packets at the front of `in`; returns the bytes used.
  std::size_t parse(std::string_view in, std::string& out, bool& open);
  bool dispatch(char cmd, std::string_view d, std::string& out);
  bool negotiate(std::string_view d, std::string& out);
  void reply(Step s, std::uint32_t nr_flag, std::string& out);
  void clear_macros_from(std::size_t stage);
  bool fail(std::string why) {
    close_reason_ = std::move(why);
    return false;
  }
  template <typename F>
  Step guarded(const char* where, std::uint32_t nr_flag, F&& f) noexcept;

  const engine::SnapshotStore& store_;
  Stats& stats_;
  LogFn log_;
  ScanPool* pool_;
  static constexpr std::size_t kKeepBuffer = 16 * 1024;
  std::string buf_;           // the start of a packet not yet complete
  bool negotiated_ = false;
  std::uint32_t proto_ = 0;   // the protocol flags agreed
  std::uint32_t actions_ = 0; // the actions agreed
  std::optional<Connection> conn_;
  std::string reply_text_;    // set_reply() at end of message: "550 5.7.1 text"
  // Macros by step, in the order they are searched from the back.
  enum Stage : std::size_t { kStConnect, kStHelo, kStMail, kStRcpt, kStData, kStEoh, kStEom, kStages };
  std::array<std::vector<std::pair<std::string, std::string>>, kStages> macros_;
  std::string close_reason_;
};

}  // namespace tamis::milter
