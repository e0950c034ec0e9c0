// HMAC-SHA256 (OpenSSL) and a comparison whose time does not depend on where inputs differ:
// bus message signatures and webhook signatures (GitHub's X-Hub-Signature-256).
#pragma once

#include <string>
#include <string_view>

namespace gale {

// The 32-byte HMAC-SHA256 of `data` under `key`; empty only when OpenSSL fails.
std::string HmacSha256(std::string_view key, std::string_view data);
// True when a and b are equal; takes the same time wherever they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gale
