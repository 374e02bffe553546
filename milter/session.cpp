#include "session.hpp"

#include <syslog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <random>

#include "core/net.hpp"
#include "core/strings.hpp"

namespace tamis::milter {
namespace {

std::string strip_brackets(const char* s) {
  std::string v = s ? s : "";
  if (v.size() >= 2 && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
  return v;
}

std::string fmt2(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", x);
  return b;
}

// A short id for the reject text and the log line, so a sender's complaint
// ("your server said ref 3F9A1C2B") leads to one log line.
std::string reference(const std::string& queue_id) {
  if (!queue_id.empty() && queue_id.size() < 40) return queue_id;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(rng()));
  return b;
}

// Keeps header values printable and on one line.
std::string header_safe(std::string s) {
  for (auto& c : s)
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  return s;
}

Step failure_step(core::Action a) {
  switch (a) {
    case core::Action::TempFail: return Step::TempFail;
    case core::Action::Reject: return Step::Reject;
    case core::Action::Discard: return Step::Discard;
    default: return Step::Accept;
  }
}

}  // namespace

ScanPool::ScanPool(std::size_t n) {
  for (std::size_t i = 0; i < (n ? n : 1); ++i) threads_.emplace_back([this] { work(); });
}

ScanPool::~ScanPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ScanPool::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

engine::ScanResult ScanPool::run(const std::function<engine::ScanResult()>& f) {
  // Shared: the pool thread may still be leaving task() when get() returns here.
  auto task = std::make_shared<std::packaged_task<engine::ScanResult()>>(f);
  auto result = task->get_future();
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.emplace_back([task] { (*task)(); });
  }
  cv_.notify_one();
  return result.get();
}

std::string spam_status(const core::Verdict& v, double required, const std::vector<std::string>& tests) {
  std::string s = (v.action == core::Action::Accept ? "No" : "Yes");
  s += ", score=" + fmt2(v.score) + " required=" + fmt2(required) + " tests=";
  std::size_t n = 0;
  for (const auto& t : tests) {
    if (++n > 30) { s += ",..."; break; }
    s += (n > 1 ? "," : "") + t;
  }
  if (tests.empty()) s += "none";
  s += " autolearn=no version=tamis-" TAMIS_VERSION;
  return s;
}

Step Connection::connect(const char* hostname, const std::string& client_ip) {
  client_host_ = hostname ? hostname : "";
  client_ip_ = client_ip;
  return Step::Continue;
}

Step Connection::helo(const char* helo) {
  helo_ = helo ? helo : "";
  return Step::Continue;
}

Step Connection::envfrom(Mta& mta, const char* from) {
  tx_.emplace();
  Transaction& t = *tx_;
  t.snap = store_.acquire();
  const auto& mc = t.snap->config.milter;
  t.env.has_envelope = true;
  t.env.client_ip = client_ip_;
  t.env.client_host = client_host_;
  t.env.helo = helo_;
  t.env.mail_from = strip_brackets(from);
  t.env.received_time = std::time(nullptr);  // the time of the Received header the MTA will add
  if (const char* a = mta.macro("{auth_authen}")) t.env.auth_user = a;
  if (const char* q = mta.macro("i")) t.env.queue_id = q;
  if (const char* v = mta.macro("v")) t.env.mta = v;
  if ((mc.bypass_authenticated && !t.env.auth_user.empty()) ||
      (!client_ip_.empty() && core::in_networks(client_ip_, mc.trusted_networks))) {
    ++stats_.bypassed;
    log_(LOG_INFO, "queue_id=" + (t.env.queue_id.empty() ? "-" : t.env.queue_id) + " client=" + client_ip_ +
                       " bypass=" + (t.env.auth_user.empty() ? "trusted_network" : "authenticated"));
    finish_tx();
    return Step::Accept;
  }
  t.raw.reserve(8192);
  return Step::Continue;
}

Step Connection::envrcpt(const char* rcpt) {
  if (!tx_) return Step::Continue;
  ++tx_->rcpt_count;
  if (tx_->env.rcpt_to.size() < tx_->snap->config.limits.max_recipients) tx_->env.rcpt_to.push_back(strip_brackets(rcpt));
  return Step::Continue;
}

void Connection::append(std::string_view s) {
  Transaction& t = *tx_;
  t.size += s.size();
  std::size_t cap = t.snap->config.limits.max_scan_bytes + 1;  // one byte more lets the parser flag truncation
  if (t.raw.size() >= cap) { t.capped = true; return; }
  t.raw.append(s.substr(0, cap - t.raw.size()));
  if (t.raw.size() >= cap) t.capped = true;
}

Step Connection::header(const char* name, const char* value) {
  if (!tx_) return Step::Continue;
  std::string n = name ? name : "";
  std::string v = value ? value : "";
  std::string ln = core::lower(n);
  if (ln.starts_with("x-spam-")) ++tx_->spam_headers[n];
  if (ln == "subject" && !tx_->has_subject) {
    tx_->has_subject = true;
    tx_->subject_raw = v;
  }
  append(n);
  append(":");
  // With SMFIP_HDR_LEADSPC the value keeps its leading space; without it, add one.
  if (!v.empty() && v[0] != ' ' && v[0] != '\t') append(" ");
  append(v);
  append("\r\n");
  return Step::Continue;
}

Step Connection::eoh() {
  if (!tx_) return Step::Continue;
  append("\r\n");
  tx_->headers_done = true;
  return Step::Continue;
}

Step Connection::body(const unsigned char* data, std::size_t len) {
  if (!tx_) return Step::Continue;
  if (!tx_->headers_done) eoh();
  append(std::string_view(reinterpret_cast<const char*>(data), len));
  // Past the cap, stop reading: the MTA skips the rest of the body (the
  // message is still delivered whole; only the scan stops).
  if (tx_->capped && can_skip_) return Step::Skip;
  return Step::Continue;
}

Step Connection::eom(Mta& mta) {
  if (!deferred_error_.empty()) {
    std::string e = std::move(deferred_error_);
    deferred_error_.clear();
    return on_internal_error("earlier step", e);
  }
  if (!tx_) return Step::Continue;
  Transaction& t = *tx_;
  if (!t.headers_done) eoh();
  if (const char* q = mta.macro("i")) t.env.queue_id = q;
  const engine::Snapshot& snap = *t.snap;
  const auto& cfg = snap.config;
  ++stats_.messages;
  engine::ScanResult r = pool_ ? pool_->run([&] { return engine::scan(snap, t.raw, t.env); })
                                : engine::scan(snap, t.raw, t.env);
  const core::Verdict& v = r.verdict;
  stats_.observe_scan_us(static_cast<std::uint64_t>(r.times.total_us));
  stats_.count_rule_hits(r.rule_hits);
  std::string ref = reference(t.env.queue_id);

  // Incoming verdict headers were written by strangers: remove them before ours.
  if (cfg.headers.remove_incoming)
    for (const auto& [name, count] : t.spam_headers)
      for (int i = count; i >= 1; --i) mta.change_header(name, i, nullptr);

  Step step = Step::Continue;
  std::vector<std::string> tests = engine::reported_hits(snap, r);
  auto add_tag_headers = [&] {
    mta.add_header("X-Spam-Flag", "YES");
    mta.add_header("X-Spam-Score", fmt2(v.score));
    mta.add_header("X-Spam-Level", std::string(static_cast<std::size_t>(std::clamp(v.score, 0.0, 50.0)), '*'));
    mta.add_header("X-Spam-Status", spam_status(v, cfg.thresholds.tag, tests));
    if (cfg.headers.report_header) {
      std::string rep;
      for (const auto& x : v.reasons) rep += (rep.empty() ? "" : ", ") + x.name + "=" + fmt2(x.points);
      mta.add_header("X-Tamis-Report", header_safe("score=" + fmt2(v.score) + " ref=" + ref + (rep.empty() ? "" : "; " + rep)));
    }
    if (!cfg.headers.subject_prefix.empty()) {
      std::string subj = t.subject_raw;
      std::string_view trimmed = core::trim(subj);
      if (!trimmed.starts_with(core::trim(cfg.headers.subject_prefix))) {
        std::string nv = " " + cfg.headers.subject_prefix + std::string(trimmed);
        if (t.has_subject) mta.change_header("Subject", 1, &nv);
        else mta.add_header("Subject", cfg.headers.subject_prefix);
      }
    }
  };
  if (!v.failure.empty()) {
    ++stats_.failures;
    if (v.failure == "scan_timeout") ++stats_.scan_timeouts;
    else if (v.failure == "model_unavailable") ++stats_.model_unavailable;
    step = failure_step(v.action);
    if (step == Step::Accept) {
      mta.add_header("X-Tamis-Status", "scan failed (" + v.failure + "), message accepted unscored");
      step = Step::Continue;
    } else if (step == Step::TempFail) {
      mta.set_reply("451", "4.7.1", "Temporary failure scanning the message, try again later (ref " + ref + ")");
    } else if (step == Step::Reject) {
      mta.set_reply("550", "5.7.1", cfg.milter.reject_text + " (ref " + ref + ")");
    }
  } else {
    switch (v.action) {
      case core::Action::Accept:
        ++stats_.accepted;
        if (cfg.headers.status_on_ham) mta.add_header("X-Spam-Status", spam_status(v, cfg.thresholds.tag, tests));
        break;
      case core::Action::Tag:
        ++stats_.tagged;
        add_tag_headers();
        break;
      case core::Action::Quarantine:
        ++stats_.quarantined;
        add_tag_headers();
        mta.quarantine("tamis score " + fmt2(v.score) + " ref " + ref);
        break;
      case core::Action::Reject:
        ++stats_.rejected;
        mta.set_reply("550", "5.7.1", cfg.milter.reject_text + " (ref " + ref + ")");
        step = Step::Reject;
        break;
      case core::Action::TempFail:
        ++stats_.tempfailed;
        mta.set_reply("451", "4.7.1", "Message deferred, try again later (ref " + ref + ")");
        step = Step::TempFail;
        break;
      case core::Action::Discard:
        ++stats_.discarded;
        step = Step::Discard;
        break;
    }
  }
  std::string reasons;
  for (const auto& x : v.reasons) reasons += (reasons.empty() ? "" : ",") + x.name + "=" + fmt2(x.points);
  std::string line = "queue_id=" + (t.env.queue_id.empty() ? "-" : t.env.queue_id) + " ref=" + ref +
                     " client=" + (client_ip_.empty() ? "-" : client_ip_) + " from=<" + t.env.mail_from +
                     "> rcpts=" + std::to_string(t.rcpt_count) + " size=" + std::to_string(t.size) +
                     " action=" + core::action_name(v.action) + " score=" + fmt2(v.score) +
                     " gen=" + std::to_string(snap.generation) + " reasons=" + (reasons.empty() ? "-" : reasons) +
                     " us=" + std::to_string(r.times.total_us);
  if (!v.failure.empty()) line += " failure=" + v.failure;
  if (!r.error.empty()) line += " error=\"" + header_safe(r.error) + "\"";
  log_(v.failure.empty() ? LOG_INFO : LOG_WARNING, line);
  finish_tx();
  return step;
}

Step Connection::abort() {
  deferred_error_.clear();
  finish_tx();
  return Step::Continue;
}

Step Connection::on_internal_error(const std::string& where, const std::string& what) {
  ++stats_.internal_errors;
  core::Action a = tx_ && tx_->snap ? tx_->snap->config.failure.internal_error : store_.acquire()->config.failure.internal_error;
  log_(LOG_ERR, "internal error in " + where + ": " + what + " -> " + core::action_name(a));
  finish_tx();
  return failure_step(a);
}

}  // namespace tamis::milter
