#include "host/common/uuid.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <stdexcept>

namespace gale {
namespace {

using Bytes = std::array<std::uint8_t, 16>;

std::string Format(const Bytes& b) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0xf];
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses canonical text; anything else hashes as the raw bytes of the text (still stable).
Bytes Parse(std::string_view text) {
  Bytes b{};
  size_t n = 0;
  for (char c : text) {
    if (c == '-') continue;
    int v = HexValue(c);
    if (v < 0 || n >= 32) return b;
    b[n / 2] = static_cast<std::uint8_t>(b[n / 2] | (n % 2 ? v : v << 4));
    ++n;
  }
  return b;
}

}  // namespace

std::string UuidV4() {
  Bytes b;
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");  // the CSPRNG is broken: nothing is safe
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return Format(b);
}

std::string UuidV5(std::string_view namespace_uuid, std::string_view name) {
  Bytes ns = Parse(namespace_uuid);
  std::string input(reinterpret_cast<const char*>(ns.data()), ns.size());
  input.append(name);
  std::uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
  Bytes b;
  std::copy(digest, digest + 16, b.begin());
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  return Format(b);
}

}  // namespace gale
