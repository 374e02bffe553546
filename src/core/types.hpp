// core: the vocabulary every module shares — actions, verdicts, the SMTP
// envelope, the one Limits struct that bounds a scan, and a deadline.
//
//   tamis::core::Limits lim;            // defaults are production values
//   tamis::core::Deadline dl(lim.scan_timeout);
//   if (dl.expired()) { ... flag ScanTimeout and stop the expensive stages ... }
//
// Plain value types: copy them freely; nothing here is shared mutable state.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tamis::core {

enum class Action { Accept, Tag, Reject, TempFail, Quarantine, Discard };

const char* action_name(Action a);
// Parses "accept", "tag", "reject", "tempfail", "quarantine", "discard".
std::optional<Action> parse_action(const std::string& s);

// What the MTA told us about the SMTP transaction. Every field may be empty:
// `tamis scan` on a file has no envelope at all.
struct Envelope {
  std::string client_ip;    // "" when unknown (file scan, NULL hostaddr)
  std::string client_host;  // reverse DNS name as the MTA gives it; without one "[addr]" (Postfix and Sendmail) or "unknown"
  std::string helo;
  std::string mail_from;    // without <>; "" for the null sender
  std::vector<std::string> rcpt_to;
  std::string auth_user;    // {auth_authen}; non-empty means SMTP AUTH succeeded
  std::string queue_id;
  std::string mta;          // the MTA's name and version (milter macro v): "Postfix 3.7.11"; "" if not sent (Sendmail)
  std::int64_t received_time = 0;  // Unix time the relay received the message (MAIL FROM); 0 if unknown
  bool has_envelope = false;  // false for scans of files without an envelope
};

// Every run-time bound of a scan, in one place. Each has a unit test named
// after what happens when it is hit.
struct Limits {
  std::size_t max_scan_bytes = 2 * 1024 * 1024;   // message bytes parsed; rest is flagged Truncated
  std::size_t max_headers = 1000;                  // header fields per entity
  std::size_t max_header_line = 16 * 1024;         // bytes of one unfolded header field
  std::size_t max_mime_depth = 20;                 // nesting of multiparts / message/rfc822
  std::size_t max_mime_parts = 500;                // entities in the whole tree
  std::size_t max_text_bytes = 1024 * 1024;        // decoded text+html kept for rules
  std::size_t max_html_bytes = 512 * 1024;         // html handed to the HTML parser per part
  std::size_t max_urls = 500;                      // URLs extracted per message
  std::size_t max_recipients = 1000;               // envelope recipients kept
  std::size_t max_tokens = 12000;                  // text tokens read per message, repeats counted
  std::size_t max_field_bytes = 256 * 1024;        // bytes of one field value a rule scans
  std::chrono::milliseconds scan_timeout{2000};    // wall time of one scan
};

// The size limits by their config names (limits.<name>), in one table: the
// config reads them from it, and a model records them from it, since each
// can change the features of some message (scan_timeout only cuts a scan
// short and is not in it).
struct SizeLimit {
  const char* name;
  std::size_t Limits::*member;
};
inline constexpr std::array<SizeLimit, 11> kSizeLimits = {{
    {"max_scan_bytes", &Limits::max_scan_bytes}, {"max_headers", &Limits::max_headers},
    {"max_header_line", &Limits::max_header_line}, {"max_mime_depth", &Limits::max_mime_depth},
    {"max_mime_parts", &Limits::max_mime_parts}, {"max_text_bytes", &Limits::max_text_bytes},
    {"max_html_bytes", &Limits::max_html_bytes}, {"max_urls", &Limits::max_urls},
    {"max_recipients", &Limits::max_recipients}, {"max_tokens", &Limits::max_tokens},
    {"max_field_bytes", &Limits::max_field_bytes}}};

class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget)
      : end_(std::chrono::steady_clock::now() + budget) {}
  static Deadline never() { return Deadline(std::chrono::hours(24 * 365)); }
  bool expired() const { return std::chrono::steady_clock::now() >= end_; }

 private:
  std::chrono::steady_clock::time_point end_;
};

// One reason in a verdict: a rule hit or a model contribution, in points.
struct Reason {
  std::string name;   // rule id, or "model:<feature>"
  double points = 0;
};

struct Verdict {
  Action action = Action::Accept;
  double score = 0;          // rule points + model points
  double rule_points = 0;
  double model_points = 0;
  double p_spam = -1;        // model probability; -1 when no model ran
  std::vector<Reason> reasons;  // strongest first
  std::string failure;       // non-empty when a failure policy decided (e.g. "scan_timeout")
};

}  // namespace tamis::core
