// How a core.st2.webhook rule declares its secret: the accepted forms of
// "{{ st2kv.system.NAME }}" and the near misses that are refused.
#include <gtest/gtest.h>

#include "host/packs/webhook_secret.h"

namespace gale::packs {
namespace {

std::string KeyOf(const std::string& secret) {
  auto parsed = ParseWebhookSecret(Json{{"secret", secret}});
  if (!parsed.ok()) return "error";
  if (!parsed->has_value()) return "none";
  EXPECT_EQ((*parsed)->source, WebhookSecret::Source::kDatastore);
  return (*parsed)->where;
}

TEST(WebhookSecretTest, DatastoreReferenceForms) {
  EXPECT_EQ(KeyOf("{{ st2kv.system.hook_secret }}"), "hook_secret");
  EXPECT_EQ(KeyOf("{{st2kv.system._Key9}}"), "_Key9");
  EXPECT_EQ(KeyOf("{{\t st2kv.system.k\n}}"), "k");

  EXPECT_EQ(KeyOf("{{ st2kv.system. }}"), "error");
  EXPECT_EQ(KeyOf("{{ st2kv.system.9k }}"), "error");
  EXPECT_EQ(KeyOf("{{ st2kv.system.a-b }}"), "error");
  EXPECT_EQ(KeyOf("{{ st2kv.system.a.b }}"), "error");
  EXPECT_EQ(KeyOf("{{ st2kv.user.k }}"), "error");
  EXPECT_EQ(KeyOf("{{ st2kv.system.k }} "), "error");
  EXPECT_EQ(KeyOf(" {{ st2kv.system.k }}"), "error");
  EXPECT_EQ(KeyOf("{{ st2kv.system.k }"), "error");
  EXPECT_EQ(KeyOf("{{}}"), "error");
  EXPECT_EQ(KeyOf("hunter2"), "error");
  EXPECT_FALSE(ParseWebhookSecret(Json{{"secret", 5}}).ok());
  EXPECT_FALSE(ParseWebhookSecret(Json::object())->has_value());
}

}  // namespace
}  // namespace gale::packs
