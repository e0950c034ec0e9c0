#include "host/cli/key_commands.h"

#include <iostream>

#include "host/api/http.h"
#include "host/cli/output.h"

namespace gale::cli {
namespace {

struct KeyArgs {
  std::string name, value, scope, user, prefix;
  double ttl = 0;
  bool encrypt = false, decrypt = false, json = false;

  // ?scope=..&user=..&decrypt=true as set.
  std::string Query(bool with_decrypt) const {
    std::string q;
    auto add = [&](const std::string& k, const std::string& v) {
      if (v.empty()) return;
      q += (q.empty() ? "?" : "&") + k + "=" + api::UrlEncode(v);
    };
    add("scope", scope);
    add("user", user);
    add("prefix", prefix);
    if (with_decrypt && decrypt) add("decrypt", "true");
    return q;
  }
};

void ScopeOptions(CLI::App* cmd, KeyArgs& a) {
  cmd->add_option("--scope", a.scope, "st2kv.system (default) or st2kv.user");
  cmd->add_option("--user", a.user, "The user of st2kv.user keys");
}

}  // namespace

void AddKeyCommands(CLI::App& app, std::shared_ptr<ApiFlags> flags) {
  auto a = std::make_shared<KeyArgs>();
  auto* key = app.add_subcommand("key", "Set, read, list and delete datastore keys");
  key->require_subcommand(1);

  auto* set = key->add_subcommand("set", "Set a key (encrypted at rest with --encrypt)");
  set->add_option("NAME", a->name, "Key name")->required();
  set->add_option("VALUE", a->value, "Value")->required();
  set->add_flag("--encrypt", a->encrypt, "Store the value encrypted (AES-256-GCM)");
  set->add_option("--ttl", a->ttl, "Seconds until the key expires")->check(CLI::PositiveNumber);
  ScopeOptions(set, *a);
  set->callback([flags, a] {
    ApiClient api(*flags);
    Json body = {{"value", a->value}, {"encrypt", a->encrypt}};
    if (a->ttl > 0) body["ttl"] = a->ttl;
    if (!a->scope.empty()) body["scope"] = a->scope;
    if (!a->user.empty()) body["user"] = a->user;
    Expect("key set", api.Call("PUT", "/v1/keys/" + api::UrlEncode(a->name), &body));
    std::cout << "key " << a->name << " set" << (a->encrypt ? " (encrypted)" : "") << '\n';
  });

  auto* get = key->add_subcommand("get", "Print a key's value");
  get->add_option("NAME", a->name, "Key name")->required();
  get->add_flag("--decrypt", a->decrypt, "Show an encrypted value in clear");
  get->add_flag("--json", a->json, "Print the record as JSON");
  ScopeOptions(get, *a);
  get->callback([flags, a] {
    ApiClient api(*flags);
    Json kv =
        Expect("key get", api.Call("GET", "/v1/keys/" + api::UrlEncode(a->name) + a->Query(true)));
    if (a->json) {
      std::cout << kv.dump(2) << '\n';
    } else {
      std::cout << kv.value("value", "") << '\n';
    }
  });

  auto* list = key->add_subcommand("list", "List keys (encrypted values stay encrypted)");
  list->add_option("--prefix", a->prefix, "Only names starting with this");
  list->add_flag("--decrypt", a->decrypt, "Show encrypted values in clear");
  list->add_flag("--json", a->json, "Print JSON");
  ScopeOptions(list, *a);
  list->callback([flags, a] {
    ApiClient api(*flags);
    Json all = Expect("key list", api.Call("GET", "/v1/keys" + a->Query(true)));
    if (a->json) {
      std::cout << all.dump(2) << '\n';
      return;
    }
    Table table({"NAME", "VALUE", "SCOPE", "SECRET", "EXPIRES"});
    for (const auto& kv : all) {
      std::string value = kv.value("value", "");
      if (value.size() > 60) value = value.substr(0, 57) + "...";
      const int64_t expire = kv.value("expire_at", int64_t{0});
      table.AddRow({kv.value("name", ""), value, kv.value("scope", ""),
                    kv.value("secret", false) ? "yes" : "no",
                    expire ? std::to_string(expire) : "-"});
    }
    table.Print(std::cout);
  });

  auto* del = key->add_subcommand("delete", "Delete a key");
  del->add_option("NAME", a->name, "Key name")->required();
  ScopeOptions(del, *a);
  del->callback([flags, a] {
    ApiClient api(*flags);
    Expect("key delete",
           api.Call("DELETE", "/v1/keys/" + api::UrlEncode(a->name) + a->Query(false)));
    std::cout << "key " << a->name << " deleted\n";
  });
}

}  // namespace gale::cli
