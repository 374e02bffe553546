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
#include <condition_variable>
#include <deque>
#include <future>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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

// Runs scans on a fixed set of `n` threads, however many connections are
// open: a relay may hold hundreds of SMTP sessions, but only as many scans
// as there are cores make progress. Scanning on the connection threads
// themselves let every one of them grow malloc's per-thread caches and arena
// share to the largest message it saw (measured with 50 connections: live
// heap 29 -> 50 MB over a run, RSS +20 %; tests/load/load_faults.py). The
// connection thread waits for its result (one hand-off per message).
class ScanPool {
 public:
  explicit ScanPool(std::size_t n);
  ~ScanPool();
  ScanPool(const ScanPool&) = delete;
  ScanPool& operator=(const ScanPool&) = delete;
  // Runs f() on a pool thread and returns its result (or rethrows).
  engine::ScanResult run(const std::function<engine::ScanResult()>& f);

 private:
  void work();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

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
  Connection(const engine::SnapshotStore& store, Stats& stats, LogFn log, bool can_skip, ScanPool* pool = nullptr)
      : store_(store), stats_(stats), log_(std::move(log)), can_skip_(can_skip), pool_(pool) {}

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
  ScanPool* pool_;  // may be null: scan on the calling thread
  std::string client_ip_, client_host_, helo_;
  std::optional<Transaction> tx_;
  std::string deferred_error_;
};

// The SpamAssassin-compatible header values tamisd writes.
std::string spam_status(const core::Verdict& v, double required, const std::vector<std::string>& tests);

}  // namespace tamis::milter
