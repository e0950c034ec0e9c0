#include "host/packs/secrets.h"

namespace gale::packs {

std::set<std::string> SecretParameters(const Json& declared) {
  std::set<std::string> names;
  if (!declared.is_object()) return names;
  for (const auto& [name, spec] : declared.items()) {
    if (!spec.is_object() || !spec.contains("secret")) continue;
    const Json& secret = spec["secret"];
    if (secret.is_boolean() && secret.get<bool>()) names.insert(name);
  }
  return names;
}

Json MaskSecrets(const Json& params, const std::set<std::string>& secrets) {
  if (secrets.empty() || !params.is_object()) return params;
  Json masked = params;
  for (const auto& name : secrets) {
    if (masked.contains(name)) masked[name] = kSecretMask;
  }
  return masked;
}

}  // namespace gale::packs
