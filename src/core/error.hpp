// ConfigError: what loading config, rules or a model throws. It carries the
// file and line so a sysadmin can go straight to the mistake. Thrown only on
// the control plane (load, reload, check-config), never while scanning.
#pragma once

#include <stdexcept>
#include <string>

namespace tamis::core {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, const std::string& msg)
      : std::runtime_error(format(file, line, msg)), file_(std::move(file)), line_(line) {}
  const std::string& file() const { return file_; }
  int line() const { return line_; }

 private:
  static std::string format(const std::string& file, int line, const std::string& msg) {
    if (file.empty()) return msg;
    return line > 0 ? file + ":" + std::to_string(line) + ": " + msg : file + ": " + msg;
  }
  std::string file_;
  int line_;
};

}  // namespace tamis::core
