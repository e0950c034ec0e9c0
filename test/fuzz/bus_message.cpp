// Bus messages as a consumer reads them (host/bus): the signature check, then the typed
// decoder of the message's topic. The first byte picks the topic and whether the message
// carries a valid signature, a fuzzed one or none; then a key, "%%", a fuzzed signature
// header, "%%", the value. A message that decodes must encode to one that decodes again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "host/bus/internal.h"
#include "host/bus/messages.h"
#include "test/fuzz/split_input.h"

namespace {

constexpr std::string_view kSigningKey = "fuzz-signing-key";

template <class Decode>
void RoundTrip(std::string_view value, Decode decode) {
  auto decoded = decode(value);
  if (!decoded.ok()) return;
  if (!decode(gale::bus::Encode(*decoded)).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const auto parts = gale::fuzz::SplitInput(data + 1, size - 1, 3);
  static const char* const kTopics[] = {"gale.triggers", "gale.executions", "gale.execution-events",
                                        "gale.dead-letters"};
  gale::bus::Message m;
  m.topic = kTopics[mode % 4];
  m.partition = 0;
  m.offset = 1;
  m.key = std::string(parts[0]);
  m.value = std::string(parts[2]);
  std::optional<std::string> header;
  switch ((mode >> 2) % 4) {
    case 2:
      header = std::string(parts[1]);
      break;
    case 3:
      break;  // unsigned
    default:  // mostly signed right, so that most inputs reach the decoders
      header = gale::bus::internal::Signature(kSigningKey, m.topic, m.key, m.value);
  }
  gale::bus::internal::CheckSignatureHeader(
      kSigningKey, header ? std::optional<std::string_view>(*header) : std::nullopt, &m);
  if (!m.authentic) return 0;  // a role drops it here, before decoding
  switch (mode % 4) {
    case 0:
      RoundTrip(m.value, gale::bus::DecodeTriggerInstance);
      break;
    case 1:
      RoundTrip(m.value, gale::bus::DecodeExecutionRequest);
      break;
    case 2:
      RoundTrip(m.value, gale::bus::DecodeExecutionEvent);
      break;
    default:
      RoundTrip(m.value, gale::bus::DecodeDeadLetter);
      break;
  }
  return 0;
}
