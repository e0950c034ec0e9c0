#include "host/packs/webhook_secret.h"

#include <regex>

namespace gale::packs {

bool IsWebhookSecretParameter(const std::string& name) {
  return name == "secret" || name == "secret_file";
}

Result<std::optional<WebhookSecret>> ParseWebhookSecret(const Json& trigger_parameters) {
  if (!trigger_parameters.is_object()) return std::optional<WebhookSecret>();
  const bool has_file = trigger_parameters.contains("secret_file");
  const bool has_ref = trigger_parameters.contains("secret");
  if (has_file && has_ref) {
    return Status::Error("declare the webhook secret once: secret_file or secret, not both");
  }
  if (has_file) {
    const Json& path = trigger_parameters["secret_file"];
    if (!path.is_string() || path.get<std::string>().empty()) {
      return Status::Error("secret_file must be the absolute path of a file holding the secret");
    }
    const std::string p = path.get<std::string>();
    if (p.front() != '/') {
      return Status::Error("secret_file '" + p +
                           "' is relative; give the absolute path of the file holding the secret");
    }
    return std::optional<WebhookSecret>(WebhookSecret{WebhookSecret::Source::kFile, p});
  }
  if (has_ref) {
    // Exactly one system datastore key; anything else would be the secret itself in the file.
    static const std::regex kRef(R"(\{\{\s*st2kv\.system\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\})");
    const Json& ref = trigger_parameters["secret"];
    std::smatch m;
    const std::string text = ref.is_string() ? ref.get<std::string>() : "";
    if (!ref.is_string() || !std::regex_match(text, m, kRef)) {
      return Status::Error(
          "secret must name a datastore key, as \"{{ st2kv.system.NAME }}\" (a secret does not "
          "belong in a rule file; or use secret_file)");
    }
    return std::optional<WebhookSecret>(WebhookSecret{WebhookSecret::Source::kDatastore, m[1]});
  }
  return std::optional<WebhookSecret>();
}

std::string Describe(const WebhookSecret& secret) {
  return secret.source == WebhookSecret::Source::kFile ? "file " + secret.where
                                                       : "datastore key system:" + secret.where;
}

}  // namespace gale::packs
