#include "host/packs/webhook_secret.h"

#include <string_view>

namespace gale::packs {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The NAME of "{{ st2kv.system.NAME }}" (spaces optional, NAME [A-Za-z_][A-Za-z0-9_]*), or
// nullopt for any other text.
std::optional<std::string> SystemKeyReference(std::string_view text) {
  if (text.size() < 4 || !text.starts_with("{{") || !text.ends_with("}}")) return std::nullopt;
  text = text.substr(2, text.size() - 4);
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  constexpr std::string_view kPrefix = "st2kv.system.";
  if (!text.starts_with(kPrefix)) return std::nullopt;
  text.remove_prefix(kPrefix.size());
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (text.empty() || !alpha(text.front())) return std::nullopt;
  for (char c : text) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return std::nullopt;
  }
  return std::string(text);
}

}  // namespace

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
    const Json& ref = trigger_parameters["secret"];
    std::optional<std::string> key =
        ref.is_string() ? SystemKeyReference(ref.get<std::string>()) : std::nullopt;
    if (!key) {
      return Status::Error(
          "secret must name a datastore key, as \"{{ st2kv.system.NAME }}\" (a secret does not "
          "belong in a rule file; or use secret_file)");
    }
    return std::optional<WebhookSecret>(WebhookSecret{WebhookSecret::Source::kDatastore, *key});
  }
  return std::optional<WebhookSecret>();
}

std::string Describe(const WebhookSecret& secret) {
  return secret.source == WebhookSecret::Source::kFile ? "file " + secret.where
                                                       : "datastore key system:" + secret.where;
}

}  // namespace gale::packs
