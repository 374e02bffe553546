// Shared by the loader harnesses: the loaders read files, so each input is
// written to one file in a private directory on tmpfs (no conf.d beside it).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

namespace tamis::fuzz {

inline const std::string& scratch_dir() {
  static std::string dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl = base + "/tamis-fuzz-XXXXXX";
    char* d = mkdtemp(tmpl.data());
    if (!d) std::abort();
    return std::string(d);
  }();
  return dir;
}

inline std::string write_input(const char* name, const std::uint8_t* data, std::size_t size) {
  std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace tamis::fuzz
