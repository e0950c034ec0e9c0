// YAML -> JSON with line numbers (host/common/yaml_json.cpp): every pack file goes through it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "host/common/yaml_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto doc = gale::ParseYaml(text, "fuzz.yaml");
  if (!doc.ok()) return 0;
  // What the pack reader does next: dump the document and look up lines of its pointers.
  doc->json.dump(-1, ' ', false, gale::Json::error_handler_t::replace);
  for (const auto& [pointer, line] : doc->lines) doc->LineOf(pointer + "/x");
  return 0;
}
