#include "host/store/secret_parameters.h"

namespace gale::store {
namespace {

// The datastore key a parameter's value is bound to: it is not in the datastore, but the
// binding keeps a sealed value from opening under another execution or parameter.
KeyRef BindingOf(const std::string& execution_id, const std::string& name) {
  return {"execution/" + execution_id + "/" + name, KeyScope::kGale, ""};
}

}  // namespace

Status SealSecretParameters(const KeyCipher* cipher, const std::set<std::string>& secrets,
                            const Json& params, Execution* e) {
  e->parameters = params;
  e->secret_parameters = Json::object();
  if (!params.is_object()) return Status::Ok();
  for (const std::string& name : secrets) {
    auto it = e->parameters.find(name);
    if (it == e->parameters.end()) continue;
    if (cipher == nullptr) {
      return Status::Error("secret parameter '" + name +
                           "' cannot be kept: the datastore key is not available");
    }
    auto sealed = cipher->Encrypt(BindingOf(e->id, name), it->dump());
    if (!sealed.ok()) return sealed.status().WithContext("secret parameter '" + name + "'");
    e->secret_parameters[name] = *sealed;
    *it = kMaskedValue;
  }
  return Status::Ok();
}

Result<Json> OpenSecretParameters(const KeyCipher* cipher, const Execution& e) {
  Json params = e.parameters.is_object() ? e.parameters : Json::object();
  if (!e.secret_parameters.is_object()) return params;
  for (const auto& [name, sealed] : e.secret_parameters.items()) {
    if (!sealed.is_string()) {
      return Status::Error("secret parameter '" + name + "' is not a sealed value");
    }
    if (cipher == nullptr) {
      return Status::Error("secret parameter '" + name +
                           "' cannot be opened: the datastore key is not available");
    }
    auto plain = cipher->Decrypt(BindingOf(e.id, name), sealed.get<std::string>());
    if (!plain.ok()) return plain.status().WithContext("secret parameter '" + name + "'");
    Json value = Json::parse(*plain, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
      return Status::Error("secret parameter '" + name + "' does not hold JSON");
    }
    params[name] = std::move(value);
  }
  return params;
}

}  // namespace gale::store
