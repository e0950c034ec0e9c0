#include "host/store/rule_overrides.h"

namespace gale::store {
namespace {

constexpr std::string_view kRulePrefix = "rule:";

}  // namespace

Result<std::map<std::string, bool>> ReadRuleOverrides(Store& store) {
  GALE_ASSIGN_OR_RETURN(auto keys,
                        store.ListKeys(KeyScope::kGale, "", std::string(kRulePrefix), NowMs()));
  std::map<std::string, bool> out;
  for (const auto& kv : keys) out[kv.name.substr(kRulePrefix.size())] = kv.value == "true";
  return out;
}

Status WriteRuleOverride(Store& store, const std::string& ref, bool enabled) {
  KeyValue kv;
  kv.name = std::string(kRulePrefix) + ref;
  kv.scope = KeyScope::kGale;
  kv.value = enabled ? "true" : "false";
  return store.SetKey(kv, NowMs());
}

}  // namespace gale::store
