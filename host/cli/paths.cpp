#include "host/cli/paths.h"

#include <filesystem>

namespace gale::cli {
namespace fs = std::filesystem;
namespace {

fs::path BinaryDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

}  // namespace

std::string GaleBinary() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "gale" : exe.string();
}

std::string DefaultPacksDir() {
  return fs::weakly_canonical(BinaryDir() / ".." / "packs").string();
}

std::string GaleCMakeDir() {
  for (const char* rel : {"../lib/cmake/Gale", "../lib/x86_64-linux-gnu/cmake/Gale"}) {
    fs::path dir = fs::weakly_canonical(BinaryDir() / rel);
    if (fs::exists(dir / "GaleConfig.cmake")) return dir.string();
  }
  return "";
}

}  // namespace gale::cli
