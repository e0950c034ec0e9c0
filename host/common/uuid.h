// RFC 4122 UUIDs in their canonical text form (8-4-4-4-12 lower-case hex).
#pragma once

#include <string>
#include <string_view>

namespace gale {

// Random (version 4), from OpenSSL's CSPRNG.
std::string UuidV4();

// Name-based (version 5, SHA-1): the same namespace and name always give the same id. The
// rules engine derives execution ids as UuidV5(kGaleNamespace, trigger_instance_id + rule_ref),
// so a redelivered trigger maps onto the execution already created.
std::string UuidV5(std::string_view namespace_uuid, std::string_view name);

// Gale's namespace for derived ids.
inline constexpr std::string_view kGaleNamespace = "6f1c7a52-8a7e-5b0c-9a1e-3d2b8c4e0a17";

}  // namespace gale
