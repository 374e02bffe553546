// tamisd's per-connection logic, apart from the wire protocol so that tests
// (and a fuzzer) can drive the exact callback sequence without an MTA.
// protocol.cpp turns the MTA's packets into these calls and implements Mta
// as reply packets.
//
//   Connection c(store, logger, stats);
//   c.connect("mx.example", "192.0.2.1");
//   c.envfrom(mta, "<a@example.org>"); c.envrcpt("<b@example.net>");
//   c.header("Subject", " hi"); c.eoh(); c.body(data, n);
//   Step s = c.eom(mta);       // headers added / reply set through `mta`
//
// A Connection is used by one thread at a time (the steps of one SMTP
// connection are sequential); it is not shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "metrics.hpp"

namespace tamis::milter {

// What a message's verdict may ask of the MTA (only called at end of message).
class Mta {
 public:
  virtual ~Mta() = default;
  // A macro's value or nullptr ("i", "{auth_authen}", "{daemon_name}", ...).
  virtual const char* macro(const char* name) = 0;
  virtual bool add_header(const std::string& name, const std::string& value) = 0;
  // Changes the index-th (1-based) header of this name; nullptr deletes it.
  virtual bool change_header(const std::string& name, int index, const std::string* value) = 0;
  virtual bool set_reply(const char* rcode, const char* xcode, const std::string& text) = 0;
  virtual bool quarantine(const std::string& reason) = 0;
};

// A callback's answer; main.cpp maps it to SMFIS_*.
enum class Step { Continue, Accept, Reject, TempFail, Discard, Skip };

using LogFn = std::function<void(int priority, const std::string& line)>;  // syslog priorities

// One message's state, from MAIL FROM to end of message or abort. (At
// namespace scope: clang cannot default-construct a nested struct with
// member initializers inside its enclosing class.)
struct Transaction {
  engine::SnapshotPtr snap;       // pinned for the whole message
  core::Envelope env;
  std::string raw;                // header + body, up to the scan cap (+1 byte)
  std::size_t size = 0;           // bytes the MTA sent (all of them)
  std::size_t rcpt_count = 0;
  bool capped = false;            // raw reached the scan cap
  bool headers_done = false;
  std::map<std::string, int> spam_headers;  // incoming X-Spam-* name -> count
  std::string subject_raw;        // first Subject value as received
  bool has_subject = false;
};

class Connection {
 public:
  Connection(const engine::SnapshotStore& store, Stats& stats, LogFn log, bool can_skip)
      : store_(store), stats_(stats), log_(std::move(log)), can_skip_(can_skip) {}

  Step connect(const char* hostname, const std::string& client_ip);
  Step helo(const char* helo);
  Step envfrom(Mta& mta, const char* from);
  Step envrcpt(const char* rcpt);
  Step header(const char* name, const char* value);
  Step eoh();
  Step body(const unsigned char* data, std::size_t len);
  Step eom(Mta& mta);
  Step abort();

  // What the failure policy says for an internal error (exception in a callback).
  Step on_internal_error(const std::string& where, const std::string& what);
  // An error in a step the MTA does not wait a reply for: answered at eom.
  void defer_error(const std::string& where, const std::string& what) {
    if (deferred_error_.empty()) deferred_error_ = where + ": " + what;
  }

 private:
  void append(std::string_view s);
  void finish_tx() { tx_.reset(); }

  const engine::SnapshotStore& store_;
  Stats& stats_;
  LogFn log_;
  bool can_skip_;
  std::string client_ip_, client_host_, helo_;
  std::optional<Transaction> tx_;
  std::string deferred_error_;
};

// True if `ip` (text form) falls in one of the CIDR networks ("192.0.2.0/24",
// "2001:db8::/32", a bare address). Unparsable entries never match.
bool in_networks(const std::string& ip, const std::vector<std::string>& cidrs);

// The SpamAssassin-compatible header values tamisd writes.
std::string spam_status(const core::Verdict& v, double required, const std::vector<std::string>& tests);

}  // namespace tamis::milter
