// The pack metadata reader (host/packs/metadata_reader.cpp) on one fuzzed file in a pack
// directory: the first byte picks which file (pack.yaml, config.yaml, or one action, rule or
// sensor), the rest is its text; the other files are a small valid pack.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "host/packs/metadata_reader.h"

namespace fs = std::filesystem;

namespace {

const fs::path& PackDir() {
  // Never destroyed: the atexit cleanup runs after static destructors.
  static const fs::path* dir = [] {
    std::string root = (fs::temp_directory_path() / "gale-fuzz-pack.XXXXXX").string();
    if (::mkdtemp(root.data()) == nullptr) std::abort();
    std::atexit([] { fs::remove_all(PackDir().parent_path()); });
    return new fs::path(fs::path(root) / "fuzzpack");  // a valid pack ref
  }();
  return *dir;
}

void Write(const fs::path& file, std::string_view text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary)
      .write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fs::path& dir = PackDir();
  // Back to the small valid pack: only the file the previous input replaced differs.
  for (const char* file : {"config.yaml", "actions/a.yaml", "rules/r.yaml", "sensors/s.yaml"}) {
    fs::remove(dir / file);
  }
  Write(dir / "pack.yaml", "name: fuzzpack\nversion: 0.1.0\n");
  Write(dir / "actions" / "run.sh", "#!/bin/sh\n");
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      Write(dir / "pack.yaml", text);
      break;
    case 1:
      Write(dir / "config.yaml", text);
      break;
    case 2:
      Write(dir / "actions" / "a.yaml", text);
      break;
    case 3:
      Write(dir / "rules" / "r.yaml", text);
      break;
    default:
      Write(dir / "sensors" / "s.yaml", text);
      break;
  }
  gale::packs::ReadPackMetadata(dir.string());
  return 0;
}
