#include "host/cli/apikey_commands.h"

#include <iostream>

#include "host/api/api_keys.h"
#include "host/cli/api_client.h"
#include "host/cli/output.h"
#include "host/config/config.h"
#include "host/store/open.h"

namespace gale::cli {
namespace {

struct Args {
  config::Overrides overrides;
  std::string name, id, scope = "run";
  bool json = false;
};

store::StorePtr OpenConfiguredStore(const std::string& verb, const Args& a) {
  auto config = config::Load(a.overrides);
  if (!config.ok()) Fail(verb, config.message(), 2);
  store::StoreOptions options;
  options.server_timeout = std::chrono::seconds(5);
  auto store = store::OpenStore(config->store_url, options);
  if (!store.ok()) Fail(verb, store.message());
  return std::move(store).value();
}

void AddStoreFlags(CLI::App* cmd, Args& a) {
  cmd->add_option("--home", a.overrides.home, "GALE_HOME of the node (default: $GALE_HOME)");
  cmd->add_option("--config", a.overrides.config_file, "gale.yaml naming the store");
}

}  // namespace

void AddApiKeyCommands(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* apikey = app.add_subcommand(
      "apikey",
      "Create, list and delete API keys (for callers other than the node's user, whose CLI uses "
      "$GALE_HOME/api.token)");
  apikey->require_subcommand(1);

  auto* create = apikey->add_subcommand("create", "Create a key; it is printed once");
  create->add_option("--name", a->name, "What the key is for");
  create
      ->add_option("--scope", a->scope,
                   "read (GET only), run (also run, cancel and re-run actions, fire webhooks) "
                   "or admin (also decrypt=true and datastore, rule and pack changes)")
      ->check(CLI::IsMember({"read", "run", "admin"}))
      ->capture_default_str();
  create->add_flag("--json", a->json, "Print JSON");
  AddStoreFlags(create, *a);
  create->callback([a] {
    auto store = OpenConfiguredStore("apikey create", *a);
    const api::ApiScope scope = api::ParseApiScope(a->scope).value_or(api::ApiScope::kRun);
    auto created = api::CreateApiKey(*store, a->name, scope, store::NowMs());
    if (!created.ok()) Fail("apikey create", created.message());
    if (a->json) {
      std::cout << Json{{"id", created->info.id},
                        {"name", a->name},
                        {"scope", a->scope},
                        {"key", created->key}}
                       .dump(2)
                << '\n';
    } else {
      std::cout << created->key << '\n';
      std::cerr << "API key " << created->info.id << " (scope " << a->scope
                << ") created; it is shown only now. Send it as the St2-Api-Key header "
                   "(or GALE_API_KEY for the CLI).\n";
    }
  });

  auto* list = apikey->add_subcommand("list", "Keys by id (the keys themselves are not stored)");
  list->add_flag("--json", a->json, "Print JSON");
  AddStoreFlags(list, *a);
  list->callback([a] {
    auto store = OpenConfiguredStore("apikey list", *a);
    auto keys = api::ListApiKeys(*store);
    if (!keys.ok()) Fail("apikey list", keys.message());
    Json out = Json::array();
    Table table({"ID", "NAME", "SCOPE", "CREATED (ms)"});
    for (const auto& k : *keys) {
      out.push_back({{"id", k.id},
                     {"name", k.name},
                     {"scope", api::ToString(k.scope)},
                     {"created_at", k.created_at}});
      table.AddRow({k.id, k.name.empty() ? "-" : k.name, api::ToString(k.scope),
                    std::to_string(k.created_at)});
    }
    if (a->json) {
      std::cout << out.dump(2) << '\n';
    } else {
      table.Print(std::cout);
    }
  });

  auto* del = apikey->add_subcommand("delete", "Delete a key by id; it stops working at once");
  del->add_option("ID", a->id, "The key's id (from list)")->required();
  AddStoreFlags(del, *a);
  del->callback([a] {
    auto store = OpenConfiguredStore("apikey delete", *a);
    auto deleted = api::DeleteApiKey(*store, a->id);
    if (!deleted.ok()) Fail("apikey delete", deleted.message());
    if (!*deleted) Fail("apikey delete", "no API key with id '" + a->id + "'");
    std::cout << "API key " << a->id << " deleted\n";
  });
}

}  // namespace gale::cli
