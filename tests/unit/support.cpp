#include "support.hpp"

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

namespace tamis::test {

std::string src_path(const std::string& rel) { return std::string(TAMIS_SOURCE_DIR) + "/" + rel; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string message(const std::string& subject, const std::string& body, const std::vector<std::string>& extra,
                    const std::string& content_type) {
  std::string m = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: " + subject +
                  "\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t1@example.com>\r\nMIME-Version: 1.0\r\n";
  for (const auto& h : extra) m += h + "\r\n";
  if (!content_type.empty()) m += "Content-Type: " + content_type + "\r\n";
  m += "\r\n" + body + "\r\n";
  return m;
}

std::string base64(const std::string& data) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8) | static_cast<unsigned char>(data[i + 2]);
    out += a[v >> 18]; out += a[(v >> 12) & 63]; out += a[(v >> 6) & 63]; out += a[v & 63];
    if (out.size() % 77 == 76) out += "\r\n";
  }
  if (i + 1 == data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    out += a[v >> 18]; out += a[(v >> 12) & 63]; out += "==";
  } else if (i + 2 == data.size()) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8);
    out += a[v >> 18]; out += a[(v >> 12) & 63]; out += a[(v >> 6) & 63]; out += '=';
  }
  return out;
}

std::string with_attachment(const std::string& filename, const std::string& content_type, const std::string& data) {
  std::string body =
      "--BOUND\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find the file attached.\r\n"
      "--BOUND\r\nContent-Type: " + content_type + "; name=\"" + filename + "\"\r\nContent-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename=\"" + filename + "\"\r\n\r\n" + base64(data) + "\r\n--BOUND--";
  return message("File", body, {}, "multipart/mixed; boundary=\"BOUND\"");
}

std::string zip_of(const std::vector<std::string>& names) {
  auto le16 = [](std::string& s, unsigned v) { s += static_cast<char>(v & 0xff); s += static_cast<char>((v >> 8) & 0xff); };
  auto le32 = [&](std::string& s, unsigned v) { le16(s, v & 0xffff); le16(s, v >> 16); };
  std::string local, central;
  std::vector<unsigned> offsets;
  for (const auto& n : names) {
    offsets.push_back(static_cast<unsigned>(local.size()));
    local += "PK\x03\x04";
    le16(local, 10); le16(local, 0); le16(local, 0); le16(local, 0); le16(local, 0);
    le32(local, 0); le32(local, 0); le32(local, 0);
    le16(local, static_cast<unsigned>(n.size())); le16(local, 0);
    local += n;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    central += "PK\x01\x02";
    le16(central, 20); le16(central, 10); le16(central, 0); le16(central, 0); le16(central, 0); le16(central, 0);
    le32(central, 0); le32(central, 0); le32(central, 0);
    le16(central, static_cast<unsigned>(names[i].size())); le16(central, 0); le16(central, 0);
    le16(central, 0); le16(central, 0); le32(central, 0); le32(central, offsets[i]);
    central += names[i];
  }
  std::string eocd = "PK\x05\x06";
  le16(eocd, 0); le16(eocd, 0);
  le16(eocd, static_cast<unsigned>(names.size())); le16(eocd, static_cast<unsigned>(names.size()));
  le32(eocd, static_cast<unsigned>(central.size())); le32(eocd, static_cast<unsigned>(local.size()));
  le16(eocd, 0);
  return local + central + eocd;
}

config::Config shipped_config_without_model() {
  config::Config c = config::load_config(src_path("config/tamis.yaml"));
  c.model_enabled = false;
  c.local_rules_dir.clear();
  return c;
}

engine::SnapshotPtr snapshot_without_model() {
  auto c = shipped_config_without_model();
  auto specs = config::load_rules(c);
  return engine::Snapshot::from_parts(c, specs, nullptr);
}

engine::SnapshotPtr milter_snapshot(const std::function<void(config::Config&)>& tweak) {
  auto c = shipped_config_without_model();
  c.thresholds.tag = 4;
  c.thresholds.reject = 8;
  if (tweak) tweak(c);
  auto specs = config::load_rules(c);
  rules::RuleSpec tag, rej;
  tag.id = "T_TAG"; tag.target = "subject"; tag.pattern = "tag-me"; tag.score = 5;
  rej.id = "T_REJ"; rej.target = "subject"; rej.pattern = "reject-me"; rej.score = 20;
  specs.push_back(tag);
  specs.push_back(rej);
  return engine::Snapshot::from_parts(c, specs, nullptr);
}

std::shared_ptr<const model::Model> tiny_model(const std::vector<std::string>& rule_features, model::TokenTable tokens) {
  // Label = "many URLs" so the model has something real to learn.
  std::size_t ncols = features::kFeatureCount + model::token_feature_names().size() + rule_features.size();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0, 10);
  std::vector<float> X, y;
  for (int i = 0; i < 400; ++i) {
    for (std::size_t c = 0; c < ncols; ++c) X.push_back(u(rng));
    y.push_back(X[X.size() - ncols + features::idx(features::F::url_count)] > 5 ? 1.0f : 0.0f);
  }
  model::TrainParams p;
  p.rounds = 20;
  p.max_depth = 3;
  p.colsample = 1.0;  // every tree may use url_count (the shipped default samples 15 % of the columns)
  p.early_stopping = 0;
  p.threads = 1;
  std::string booster = model::train_booster(X, ncols, y, {}, {}, p);
  return model::Model::from_parts(booster, std::move(tokens), rule_features, "{}");
}

}  // namespace tamis::test
