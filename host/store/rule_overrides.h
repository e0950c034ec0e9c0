// Rules enabled or disabled at run time (`gale rule enable/disable`, PUT /v1/rules/REF): kept in
// the store's `gale` key scope as "rule:<ref>" so that every node applies them, over what the
// rule file says. Written by the API, read by the API and by each node's rules engine.
#pragma once

#include <map>
#include <string>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::store {

// Every override: rule ref -> enabled.
Result<std::map<std::string, bool>> ReadRuleOverrides(Store& store);

Status WriteRuleOverride(Store& store, const std::string& ref, bool enabled);

}  // namespace gale::store
