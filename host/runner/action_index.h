// The actions a runner can execute: every action of every activated pack, with what running it
// needs (its pack directory and config, secret parameter names, and the sandbox settings of the
// node defaults narrowed by its `sandbox:` block). Immutable and shared; a pack reload builds a
// new index and the runner swaps it in (executions already running keep their old entry).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "host/common/json.h"
#include "host/packs/catalog.h"
#include "host/packs/policy_index.h"
#include "sandbox/settings.h"

namespace gale::runner {

struct RunnableAction {
  packs::ActionMeta meta;
  std::string pack_dir;
  Json pack_config = Json::object();
  std::set<std::string> secrets;
  sandbox::Settings settings;  // node defaults + the action's sandbox block
  // Non-empty when the sandbox block does not apply (then every execution fails with it).
  std::string settings_error;
  // True when the action's sandbox block sets `timeout` (it then wins over a `timeout` parameter).
  bool sandbox_timeout = false;
};

class ActionIndex {
 public:
  // `node_defaults` is the node's sandbox (gale.yaml `sandbox:` and runner.default_timeout).
  static std::shared_ptr<const ActionIndex> FromCatalog(const packs::Catalog& catalog,
                                                        const sandbox::Settings& node_defaults);
  // nullptr when no activated pack has `ref`.
  const RunnableAction* Find(const std::string& ref) const;
  size_t size() const { return actions_.size(); }
  // The catalog's policies (host/policies), reloaded with the actions they apply to.
  const packs::PolicyIndex& policies() const { return policies_; }

 private:
  std::map<std::string, RunnableAction> actions_;
  packs::PolicyIndex policies_;
};

}  // namespace gale::runner
