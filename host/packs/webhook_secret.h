// The secret a core.st2.webhook rule may declare in its trigger parameters, so that only senders
// who know it (GitHub's X-Hub-Signature-256 scheme) can fire it. Never the secret itself:
//   secret_file: /abs/path            a file holding it (one trailing newline stripped)
//   secret: "{{ st2kv.system.NAME }}" a system datastore key holding it (may be encrypted)
// A literal `secret:` is refused: secrets do not belong in rule files.
#pragma once

#include <optional>
#include <string>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::packs {

struct WebhookSecret {
  enum class Source { kFile, kDatastore };
  Source source = Source::kFile;
  std::string where;  // the absolute file path, or the system datastore key's name
};

// The parameter names that declare a webhook secret; they are not matched against the trigger
// instance's parameters (which carry only `url`).
bool IsWebhookSecretParameter(const std::string& name);

// The secret declared in a core.st2.webhook rule's trigger parameters: none, one, or an error
// naming the parameter at fault (the caller adds the rule file).
Result<std::optional<WebhookSecret>> ParseWebhookSecret(const Json& trigger_parameters);

// "file /etc/gale/hook.secret" or "datastore key system:NAME", for log lines (never the value).
std::string Describe(const WebhookSecret& secret);

}  // namespace gale::packs
