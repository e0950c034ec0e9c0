#include "host/runner/action_index.h"

#include "host/packs/secrets.h"

namespace gale::runner {

std::shared_ptr<const ActionIndex> ActionIndex::FromCatalog(
    const packs::Catalog& catalog, const sandbox::Settings& node_defaults) {
  auto index = std::make_shared<ActionIndex>();
  for (const auto& pack : catalog.packs()) {
    if (!pack.ok()) continue;
    for (const auto& meta : pack.actions) {
      RunnableAction a;
      a.meta = meta;
      a.pack_dir = pack.dir;
      a.pack_config = pack.config;
      a.secrets = packs::SecretParameters(meta.parameters);
      a.sandbox_timeout = meta.sandbox.is_object() && meta.sandbox.contains("timeout");
      auto settings = sandbox::SettingsFromSandboxBlock(meta.sandbox, node_defaults);
      if (settings.ok()) {
        a.settings = std::move(settings).value();
      } else {
        a.settings = node_defaults;
        a.settings_error = meta.origin.file + ": sandbox: " + settings.message();
      }
      index->actions_.emplace(meta.ref, std::move(a));
    }
  }
  index->policies_ = packs::PolicyIndex::FromCatalog(catalog);
  return index;
}

const RunnableAction* ActionIndex::Find(const std::string& ref) const {
  auto it = actions_.find(ref);
  return it == actions_.end() ? nullptr : &it->second;
}

}  // namespace gale::runner
