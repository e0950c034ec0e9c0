// The JSON Schema compiler and validator (host/schema): a schema, "%%", an instance. Both go
// through ParseUntrustedJson, as every untrusted document does before it reaches the validator.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "host/common/input_limits.h"
#include "host/schema/validator.h"
#include "test/fuzz/split_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = gale::fuzz::SplitInput(data, size, 2);
  auto schema = gale::ParseUntrustedJson(parts[0], "schema");
  if (!schema.ok()) return 0;
  gale::schema::CheckDefaults(*schema);
  auto validator = gale::schema::Validator::Compile(*schema);
  if (!validator.ok()) return 0;
  auto instance = gale::ParseUntrustedJson(parts[1], "instance");
  if (!instance.ok()) return 0;
  const bool valid = validator->Validate(*instance).empty();
  // IsValid promises the same verdict as Validate() without the messages.
  if (valid != validator->IsValid(*instance)) std::abort();
  validator->ApplyDefaults(*instance);
  return 0;
}
