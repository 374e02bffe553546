// Helpers shared by the unit tests: message builders, a tiny zip writer,
// and a small model trained through the XGBoost C API.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace tamis::test {

// A private directory under the system temp dir, removed with its contents.
struct TempDir {
  std::filesystem::path p;
  TempDir() {
    p = std::filesystem::temp_directory_path() / ("tamis-test-" + std::to_string(::getpid()) + "-" + std::to_string(rand()));
    std::filesystem::create_directories(p);
  }
  ~TempDir() { std::filesystem::remove_all(p); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(p / name) << text;
    return (p / name).string();
  }
};

std::string src_path(const std::string& rel);  // path inside the source tree
std::string read_file(const std::string& path);

// A minimal RFC 5322 message; extra headers are raw lines without newline.
std::string message(const std::string& subject, const std::string& body,
                    const std::vector<std::string>& extra_headers = {}, const std::string& content_type = "text/plain; charset=utf-8");
// A multipart/mixed message with a text part and one attachment.
std::string with_attachment(const std::string& filename, const std::string& content_type, const std::string& data);
// A stored (uncompressed) zip file holding files with these names.
std::string zip_of(const std::vector<std::string>& names);
std::string base64(const std::string& data);

// Config that loads the shipped rules and no model.
config::Config shipped_config_without_model();
engine::SnapshotPtr snapshot_without_model();
// The milter tests' snapshot: shipped rules, no model, tag at 4, reject at 8,
// plus T_TAG (subject "tag-me", 5 points) and T_REJ (subject "reject-me", 20).
engine::SnapshotPtr milter_snapshot(const std::function<void(config::Config&)>& tweak = {});
// A small model trained on synthetic rows for this build's schema.
std::shared_ptr<const model::Model> tiny_model(const std::vector<std::string>& rule_features = {},
                                               model::TokenTable tokens = {});

}  // namespace tamis::test
