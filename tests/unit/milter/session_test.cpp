// tamisd's connection logic through its Mta seam, without the wire protocol.
#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "session.hpp"
#include "support.hpp"

using namespace tamis;
using milter::Step;

namespace {

struct FakeMta : milter::Mta {
  std::map<std::string, std::string> macros;
  std::vector<std::pair<std::string, std::string>> added;
  std::vector<std::tuple<std::string, int, std::string, bool>> changed;  // name, index, value, deleted
  std::string rcode, xcode, reply;
  std::string quarantined;
  const char* macro(const char* n) override {
    auto it = macros.find(n);
    return it == macros.end() ? nullptr : it->second.c_str();
  }
  bool add_header(const std::string& n, const std::string& v) override { added.emplace_back(n, v); return true; }
  bool change_header(const std::string& n, int i, const std::string* v) override {
    changed.emplace_back(n, i, v ? *v : "", v == nullptr);
    return true;
  }
  bool set_reply(const char* r, const char* x, const std::string& t) override { rcode = r; xcode = x; reply = t; return true; }
  bool quarantine(const std::string& r) override { quarantined = r; return true; }
  std::string header(const std::string& n) const {
    for (const auto& [k, v] : added) if (k == n) return v;
    return "";
  }
};

engine::SnapshotPtr snap(const std::function<void(config::Config&)>& tweak = {}) { return test::milter_snapshot(tweak); }

struct Run {
  milter::Stats stats;
  std::vector<std::string> log;
  engine::SnapshotStore store;
  milter::Connection conn;
  FakeMta mta;
  explicit Run(engine::SnapshotPtr s, bool can_skip = true)
      : store(std::move(s)), conn(store, stats, [this](int, const std::string& l) { log.push_back(l); }, can_skip) {
    mta.macros["i"] = "QID123";
    conn.connect("mx.example.org", "192.0.2.10");
    conn.helo("mx.example.org");
  }
  Step message(const std::string& subject, const std::string& body = "hello\r\n",
               std::vector<std::pair<std::string, std::string>> extra = {}) {
    Step s = conn.envfrom(mta, "<sender@example.org>");
    if (s != Step::Continue) return s;
    conn.envrcpt("<user@test.example>");
    conn.header("From", " Alice <alice@example.org>");
    conn.header("Subject", (" " + subject).c_str());
    for (auto& [k, v] : extra) conn.header(k.c_str(), v.c_str());
    conn.eoh();
    conn.body(reinterpret_cast<const unsigned char*>(body.data()), body.size());
    return conn.eom(mta);
  }
};

}  // namespace

TEST_CASE("milter: ham gets X-Spam-Status: No and the forged X-Spam-* headers are deleted", "[milter]") {
  Run r(snap());
  CHECK(r.message("lunch", "hi\r\n", {{"X-Spam-Status", " Yes, score=99"}, {"X-Spam-Flag", " YES"}, {"X-Spam-Status", " Yes"}}) ==
        Step::Continue);
  CHECK(r.mta.header("X-Spam-Status").starts_with("No, score="));
  CHECK(r.mta.header("X-Spam-Flag").empty());
  int deleted = 0;
  for (auto& [n, i, v, del] : r.mta.changed) deleted += del;
  CHECK(deleted == 3);
  REQUIRE(r.log.size() == 1);
  CHECK(r.log[0].find("queue_id=QID123") != std::string::npos);
  CHECK(r.log[0].find("action=accept") != std::string::npos);
}

TEST_CASE("milter: a tagged message gets SpamAssassin-style headers and a subject prefix", "[milter]") {
  Run r(snap());
  CHECK(r.message("please tag-me") == Step::Continue);
  CHECK(r.mta.header("X-Spam-Flag") == "YES");
  CHECK(r.mta.header("X-Spam-Status").starts_with("Yes, score="));
  CHECK(r.mta.header("X-Spam-Status").find("tests=T_TAG") != std::string::npos);
  CHECK(r.mta.header("X-Tamis-Report").find("T_TAG=5.00") != std::string::npos);
  REQUIRE(r.mta.changed.size() == 1);
  CHECK(std::get<0>(r.mta.changed[0]) == "Subject");
  CHECK(std::get<2>(r.mta.changed[0]) == " [SPAM] please tag-me");
}

TEST_CASE("milter: X-Spam-Status lists the rules that hit, without the zero-point helpers of meta rules", "[milter]") {
  // FROM_NAME_BRAND_TEAM has score 0 but is a model feature: listed.
  // FROM_ADDR_BRAND_DOMAIN has score 0 and model_feature false: a helper, hidden.
  Run b(snap());
  b.conn.envfrom(b.mta, "<sender@example.org>");
  b.conn.envrcpt("<user@test.example>");
  b.conn.header("From", " Microsoft account team <account-security-noreply@accountprotection.microsoft.com>");
  b.conn.header("Subject", " please tag-me");
  b.conn.eoh();
  std::string body = "hello\r\n";
  b.conn.body(reinterpret_cast<const unsigned char*>(body.data()), body.size());
  CHECK(b.conn.eom(b.mta) == Step::Continue);
  std::string st = b.mta.header("X-Spam-Status");
  INFO(st);
  CHECK(st.find("T_TAG") != std::string::npos);
  CHECK(st.find("FROM_NAME_BRAND_TEAM") != std::string::npos);
  CHECK(b.stats.rule_hits()["FROM_ADDR_BRAND_DOMAIN"] == 1);  // it hit (the metrics count helpers too)
  CHECK(st.find("FROM_ADDR_BRAND_DOMAIN") == std::string::npos);
  CHECK(st.find("FROM_NAME_BRAND_SECURITY") == std::string::npos);
}

TEST_CASE("milter: a message above reject gets 550 5.7.1 with a reference that is in the log", "[milter]") {
  Run r(snap());
  CHECK(r.message("reject-me now") == Step::Reject);
  CHECK(r.mta.rcode == "550");
  CHECK(r.mta.xcode == "5.7.1");
  CHECK(r.mta.reply.find("(ref QID123)") != std::string::npos);
  CHECK(r.log.back().find("ref=QID123") != std::string::npos);
}

TEST_CASE("milter: reject_action quarantine holds and tags instead of refusing", "[milter]") {
  Run r(snap([](config::Config& c) { c.reject_action = core::Action::Quarantine; }));
  CHECK(r.message("reject-me") == Step::Continue);
  CHECK_FALSE(r.mta.quarantined.empty());
  CHECK(r.mta.header("X-Spam-Flag") == "YES");
}

TEST_CASE("milter: authenticated clients and trusted networks are not scored", "[milter]") {
  Run a(snap());
  a.mta.macros["{auth_authen}"] = "alice";
  CHECK(a.message("reject-me") == Step::Accept);
  CHECK(a.mta.added.empty());
  Run t(snap([](config::Config& c) { c.milter.trusted_networks = {"192.0.2.0/24"}; }));
  CHECK(t.message("reject-me") == Step::Accept);
  CHECK(t.stats.bypassed == 1);
  Run n(snap([](config::Config& c) { c.milter.trusted_networks = {"198.51.100.0/24"}; }));
  CHECK(n.message("reject-me") == Step::Reject);
}

TEST_CASE("milter: a body past the scan cap is skipped and the message still judged", "[milter][limits]") {
  Run r(snap([](config::Config& c) { c.limits.max_scan_bytes = 1000; }));
  r.conn.envfrom(r.mta, "<s@example.org>");
  r.conn.header("Subject", " tag-me");
  r.conn.eoh();
  std::string chunk(800, 'x');
  CHECK(r.conn.body(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size()) == Step::Continue);
  CHECK(r.conn.body(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size()) == Step::Skip);
  CHECK(r.conn.eom(r.mta) == Step::Continue);
  CHECK(r.mta.header("X-Spam-Flag") == "YES");
  INFO(r.log.back());
  CHECK(r.log.back().find("size=1619")  /* 17 + 2 header bytes + 1600 body, counted past the cap */ != std::string::npos);
}

TEST_CASE("milter: recipients beyond max_recipients are counted but not kept", "[milter][limits]") {
  Run r(snap([](config::Config& c) { c.limits.max_recipients = 10; }));
  r.conn.envfrom(r.mta, "<s@example.org>");
  for (int i = 0; i < 1000; ++i) r.conn.envrcpt(("<u" + std::to_string(i) + "@test.example>").c_str());
  r.conn.eoh();
  r.conn.eom(r.mta);
  CHECK(r.log.back().find("rcpts=1000") != std::string::npos);
}

TEST_CASE("milter: callbacks in any order never crash and abort resets the message", "[milter]") {
  Run r(snap());
  CHECK(r.conn.header("Subject", " reject-me") == Step::Continue);  // no envfrom yet
  CHECK(r.conn.body(nullptr, 0) == Step::Continue);
  CHECK(r.conn.eom(r.mta) == Step::Continue);
  r.conn.envfrom(r.mta, nullptr);
  r.conn.header("Subject", " reject-me");
  r.conn.abort();
  CHECK(r.conn.eom(r.mta) == Step::Continue);  // nothing left to judge
  CHECK(r.message("fine") == Step::Continue);
}

TEST_CASE("milter: an error in a no-reply step is answered at end of message by the failure policy", "[milter][failure]") {
  Run r(snap([](config::Config& c) { c.failure.internal_error = core::Action::TempFail; }));
  r.conn.envfrom(r.mta, "<s@example.org>");
  r.conn.defer_error("header", "boom");
  CHECK(r.conn.eom(r.mta) == Step::TempFail);
  CHECK(r.log.back().find("internal error") != std::string::npos);
}

TEST_CASE("milter metrics: actions, rule hits and scan latency are counted and rendered for Prometheus", "[milter][metrics]") {
  Run r(snap());
  std::string before = milter::render_prometheus(r.stats);
  CHECK(before.find("tamis_messages_total{action=\"tag\"} 0\n") != std::string::npos);
  CHECK(before.find("tamis_rule_hits_total{rule=\"T_TAG\"}") == std::string::npos);
  r.message("please tag-me");
  r.message("lunch");
  r.message("reject-me");
  std::string text = milter::render_prometheus(r.stats);
  CHECK(text.find("tamis_messages_total{action=\"tag\"} 1\n") != std::string::npos);
  CHECK(text.find("tamis_messages_total{action=\"accept\"} 1\n") != std::string::npos);
  CHECK(text.find("tamis_messages_total{action=\"reject\"} 1\n") != std::string::npos);
  CHECK(text.find("tamis_rule_hits_total{rule=\"T_TAG\"} 1\n") != std::string::npos);
  CHECK(text.find("tamis_rule_hits_total{rule=\"T_REJ\"} 1\n") != std::string::npos);
  CHECK(text.find("tamis_scan_duration_seconds_count 3\n") != std::string::npos);
  CHECK(text.find("tamis_scan_duration_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("# TYPE tamis_scan_duration_seconds histogram\n") != std::string::npos);
}

TEST_CASE("milter metrics: histogram buckets are cumulative and failures are counted by kind", "[milter][metrics]") {
  milter::Stats s;
  s.observe_scan_us(50);         // 0.00005 s: first bucket
  s.observe_scan_us(3000);       // 0.003 s: le=0.005
  s.observe_scan_us(10'000'000); // 10 s: only +Inf
  s.failures = 3;
  s.scan_timeouts = 1;
  s.model_unavailable = 1;
  s.reload_failures = 2;
  std::string t = milter::render_prometheus(s);
  CHECK(t.find("tamis_scan_duration_seconds_bucket{le=\"0.0001\"} 1\n") != std::string::npos);
  CHECK(t.find("tamis_scan_duration_seconds_bucket{le=\"0.0025\"} 1\n") != std::string::npos);
  CHECK(t.find("tamis_scan_duration_seconds_bucket{le=\"0.005\"} 2\n") != std::string::npos);
  CHECK(t.find("tamis_scan_duration_seconds_bucket{le=\"2\"} 2\n") != std::string::npos);
  CHECK(t.find("tamis_scan_duration_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(t.find("tamis_scan_duration_seconds_sum 10.003050\n") != std::string::npos);
  CHECK(t.find("tamis_errors_total{kind=\"scan_timeout\"} 1\n") != std::string::npos);
  CHECK(t.find("tamis_errors_total{kind=\"model_unavailable\"} 1\n") != std::string::npos);
  CHECK(t.find("tamis_errors_total{kind=\"scan_error\"} 1\n") != std::string::npos);
  CHECK(t.find("tamis_reload_failures_total 2\n") != std::string::npos);
}

// Run under TSan in CI (build-tsan): connections on several threads judge
// mail through one SnapshotStore while another thread publishes new snapshots
// (rules and model), as tamisd's SIGUSR1 reload does.
TEST_CASE("milter: concurrent connections keep judging while snapshots are swapped", "[milter][reload][concurrency]") {
  auto model = test::tiny_model();
  auto make = [&](std::uint64_t gen, double tag_score) {
    auto c = test::shipped_config_without_model();
    c.thresholds.tag = 4;
    c.thresholds.reject = 100;
    auto specs = config::load_rules(c);
    rules::RuleSpec tag;
    tag.id = "T_TAG"; tag.target = "subject"; tag.pattern = "tag-me"; tag.score = tag_score;
    specs.push_back(tag);
    return engine::Snapshot::from_parts(c, specs, model, gen);
  };
  engine::SnapshotStore store(make(1, 30));
  milter::Stats stats;
  std::mutex log_mu;
  std::vector<std::string> log;
  constexpr int kThreads = 4, kPerThread = 60;
  std::atomic<bool> done{false};
  std::thread reloader([&] {
    std::uint64_t g = 2;
    while (!done) {
      store.publish(make(g, g % 2 ? 30 : 40));
      stats.generation = g++;
      ++stats.reloads;
    }
  });
  std::vector<std::thread> conns;
  for (int t = 0; t < kThreads; ++t)
    conns.emplace_back([&, t] {
      milter::Connection c(store, stats, [&](int, const std::string& l) { std::lock_guard lk(log_mu); log.push_back(l); }, true);
      FakeMta mta;
      mta.macros["i"] = "Q" + std::to_string(t);
      c.connect("mx.example.org", "192.0.2." + std::to_string(t + 1));
      for (int i = 0; i < kPerThread; ++i) {
        c.envfrom(mta, "<a@example.org>");
        c.envrcpt("<b@test.example>");
        c.header("Subject", i % 3 ? " hello" : " please tag-me");
        c.eoh();
        std::string body = "line " + std::to_string(i) + "\r\n";
        c.body(reinterpret_cast<const unsigned char*>(body.data()), body.size());
        c.eom(mta);
        if (i % 7 == 0) c.abort();
      }
    });
  for (auto& t : conns) t.join();
  done = true;
  reloader.join();
  CHECK(stats.messages == kThreads * kPerThread);
  CHECK(stats.accepted + stats.tagged == kThreads * kPerThread);
  CHECK(stats.tagged == kThreads * ((kPerThread + 2) / 3));
  CHECK(stats.reloads > 0);
  REQUIRE(log.size() == static_cast<std::size_t>(kThreads * kPerThread));
  for (const auto& l : log) CHECK(l.find(" gen=") != std::string::npos);
}

TEST_CASE("milter: scans run on the pool's threads, at most its size at once", "[milter][bounds]") {
  milter::ScanPool pool(2);
  std::mutex mu;
  std::set<std::thread::id> threads, caller_ids;
  std::atomic<int> running{0}, most{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i)
    callers.emplace_back([&] {
      {
        std::lock_guard<std::mutex> lk(mu);
        caller_ids.insert(std::this_thread::get_id());
      }
      pool.run([&] {
        int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {}
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        {
          std::lock_guard<std::mutex> lk(mu);
          threads.insert(std::this_thread::get_id());
        }
        --running;
        return engine::ScanResult{};
      });
    });
  for (auto& t : callers) t.join();
  CHECK(most.load() <= 2);     // never more than the pool's size at once
  CHECK(threads.size() <= 2);  // and only on its own threads
  for (auto id : caller_ids) CHECK(threads.count(id) == 0);
  CHECK(caller_ids.size() == 8);
  // An exception in a scan reaches the caller.
  CHECK_THROWS_WITH(pool.run([]() -> engine::ScanResult { throw std::runtime_error("boom"); }), "boom");
  // A Connection with a pool still judges mail.
  auto s = snap();
  milter::Stats stats;
  engine::SnapshotStore store(s);
  milter::Connection c(store, stats, [](int, const std::string&) {}, true, &pool);
  FakeMta mta;
  c.connect("mx.example", "192.0.2.9");
  c.envfrom(mta, "<a@example.org>");
  c.envrcpt("<b@example.net>");
  c.header("Subject", " reject-me");
  c.eoh();
  CHECK(c.eom(mta) == Step::Reject);
}
