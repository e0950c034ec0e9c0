// The API end to end against a real `gale up`: every route's happy path and every error case a
// client can provoke, none of which may take the server down.
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {

using ApiTest = ApiNodeTest;

// `doors`: the Host, key and Content-Type headers that let a request reach its route.
std::string Request(const std::string& doors, const std::string& method, const std::string& target,
                    const std::string& extra_headers = "", const std::string& body = "") {
  return method + " " + target + " HTTP/1.1\r\n" + doors + "Connection: close\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST_F(ApiTest, BadRequestsGetTheirStatusAndNeverTakeTheServerDown) {
  const std::string url = node().api_url();
  ASSERT_FALSE(url.empty()) << node().Log();
  const std::string doors = "Host: " + HostOf(url) + "\r\nSt2-Api-Key: " + node().api_token() +
                            "\r\nContent-Type: application/json\r\n";

  EXPECT_EQ(StatusOf(RawExchange(url, Request(doors, "GET", "/v1/nope"))), 404);
  const std::string wrong_method = RawExchange(url, Request(doors, "PATCH", "/v1/executions"));
  EXPECT_EQ(StatusOf(wrong_method), 405);
  EXPECT_NE(wrong_method.find("Allow: POST, GET"), std::string::npos) << wrong_method;
  const std::string bad_json =
      RawExchange(url, Request(doors, "POST", "/v1/executions", "", "{\"action\": "));
  EXPECT_EQ(StatusOf(bad_json), 400);
  EXPECT_NE(bad_json.find("malformed JSON"), std::string::npos) << bad_json;
  EXPECT_EQ(StatusOf(RawExchange(url, Request(doors, "POST", "/v1/executions", "", "[1,2]"))), 400);
  // 2 MiB body: refused from its Content-Length, before it is read.
  EXPECT_EQ(StatusOf(RawExchange(
                url, Request(doors, "POST", "/v1/executions", "", std::string(2u << 20, 'x')))),
            413);
  // 64 KiB of headers.
  EXPECT_EQ(StatusOf(RawExchange(url, Request(doors, "GET", "/v1/executions",
                                              "X-Big: " + std::string(64 << 10, 'a') + "\r\n"))),
            431);
  EXPECT_EQ(StatusOf(RawExchange(url, "NOT HTTP AT ALL\r\n\r\n")), 400);
  EXPECT_EQ(StatusOf(RawExchange(url, std::string("\x16\x03\x01\x02\x00\x01\x00", 7))), 400);
  // A client that stops half-way through its headers is cut off after request_timeout (2 s).
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(
      RawExchange(url, "GET /v1/executions HTTP/1.1\r\nHost: t\r\n", std::chrono::seconds(20)), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20))
      << "a slow client held its connection past the request timeout";
  // Unknown records and bad queries.
  auto api = Api();
  EXPECT_EQ(api.Call("GET", "/v1/executions/no-such-id")->status, 404);
  EXPECT_EQ(api.Call("DELETE", "/v1/executions/no-such-id")->status, 404);
  EXPECT_EQ(api.Call("GET", "/v1/executions?limit=0")->status, 400);
  EXPECT_EQ(api.Call("GET", "/v1/executions?limit=abc")->status, 400);
  EXPECT_EQ(api.Call("GET", "/v1/executions?status=exploded")->status, 400);
  Json unknown_action = {{"action", "nope.nothing"}};
  EXPECT_EQ(api.Call("POST", "/v1/executions", &unknown_action)->status, 400);
  Json missing_required = {{"action", "core.local"}, {"parameters", Json::object()}};
  auto invalid = api.Call("POST", "/v1/executions", &missing_required);
  EXPECT_EQ(invalid->status, 400);
  EXPECT_NE(invalid->error().find("cmd"), std::string::npos) << invalid->body;
  EXPECT_EQ(api.Call("GET", "/v1/keys/nothing-here")->status, 404);
  EXPECT_EQ(api.Call("GET", "/v1/keys?scope=st2kv.galaxy")->status, 400);
  EXPECT_EQ(api.Call("GET", "/v1/keys?scope=st2kv.user")->status, 400) << "user scope needs a user";
  Json no_value = {{"ttl", 5}};
  EXPECT_EQ(api.Call("PUT", "/v1/keys/k", &no_value)->status, 400);
  Json bad_rule = {{"enabled", "yes"}};
  EXPECT_EQ(api.Call("PUT", "/v1/rules/hooks.on_deploy", &bad_rule)->status, 400);
  Json enable = {{"enabled", true}};
  EXPECT_EQ(api.Call("PUT", "/v1/rules/hooks.nope", &enable)->status, 404);

  // Still serving, same process.
  auto health = api.Call("GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.message();
  EXPECT_EQ(health->status, 200);
  EXPECT_TRUE(node().Alive());
}

TEST_F(ApiTest, ExecutionsRunAreListedFollowedCanceledAndRerun) {
  auto api = Api();
  Json run = {{"action", "core.echo"}, {"parameters", {{"message", "from the api"}}}};
  auto created = api.Call("POST", "/v1/executions", &run);
  ASSERT_TRUE(created.ok()) << created.message();
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string id = created->json()["id"];
  Json done = WaitFinal(api, id);
  EXPECT_EQ(done["status"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["stdout"], "from the api\n");
  EXPECT_EQ(api.Call("GET", "/v1/executions/" + id + "/output")->body, "from the api\n");
  // Following the output of a finished execution returns all of it and ends.
  std::string followed;
  auto status = api.Stream("/v1/executions/" + id + "/output?follow=true",
                           [&](const std::string& d) { return followed += d, true; });
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(followed, "from the api\n");

  auto listed = api.Call("GET", "/v1/executions?action=core.echo&status=succeeded&limit=10");
  ASSERT_EQ(listed->status, 200);
  bool found = false;
  for (const auto& e : listed->json()) found = found || e["id"] == id;
  EXPECT_TRUE(found) << listed->body;

  // Cancel a running one: its process group dies and the status ends canceled.
  Json sleep = {{"action", "core.local"}, {"parameters", {{"cmd", "echo started; sleep 60"}}}};
  const std::string long_id = api.Call("POST", "/v1/executions", &sleep)->json()["id"];
  ASSERT_TRUE(WaitFor(
      [&] {
        return api.Call("GET", "/v1/executions/" + long_id + "/output")->body.find("started") !=
               std::string::npos;
      },
      std::chrono::seconds(30)));
  auto canceled = api.Call("DELETE", "/v1/executions/" + long_id);
  EXPECT_EQ(canceled->status, 200) << canceled->body;
  EXPECT_EQ(WaitFinal(api, long_id)["status"], "canceled");
  EXPECT_EQ(api.Call("DELETE", "/v1/executions/" + long_id)->status, 409);

  Json override_message = {{"parameters", {{"message", "again"}}}};
  auto rerun = api.Call("POST", "/v1/executions/" + id + "/re_run", &override_message);
  ASSERT_EQ(rerun->status, 201) << rerun->body;
  const std::string rerun_id = rerun->json()["id"];
  EXPECT_NE(rerun_id, id);
  EXPECT_EQ(WaitFinal(api, rerun_id)["result"]["stdout"], "again\n");
}

// core.echo never hands its message to the shell as code: substitutions, backquotes, `;` and a
// leading dash are printed as they are.
TEST_F(ApiTest, CoreEchoPrintsItsMessageLiterally) {
  auto api = Api();
  for (const std::string message : {"$(id); echo pwned `id`", "-n"}) {
    Json run = {{"action", "core.echo"}, {"parameters", {{"message", message}}}};
    auto created = api.Call("POST", "/v1/executions", &run);
    ASSERT_TRUE(created.ok()) << created.message();
    ASSERT_EQ(created->status, 201) << created->body;
    Json done = WaitFinal(api, created->json()["id"]);
    EXPECT_EQ(done["status"], "succeeded") << done.dump();
    EXPECT_EQ(done["result"]["stdout"], message + "\n") << done.dump();
  }
}

TEST_F(ApiTest, WebhooksFireTheirRulesAndUnknownOnesAre404) {
  auto api = Api();
  Json body = {{"service", "billing"}};
  auto fired = api.Call("POST", "/v1/webhooks/deploy", &body);
  ASSERT_TRUE(fired.ok());
  ASSERT_EQ(fired->status, 202) << fired->body;
  EXPECT_EQ(fired->json()["payload"]["body"]["service"], "billing");
  // The rule's execution appears and succeeds with the rendered command.
  Json execution;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = api.Call("GET", "/v1/executions?rule=hooks.on_deploy&limit=50");
        for (const auto& e : r->json()) {
          if (e["parameters"]["cmd"].get<std::string>().find("billing") != std::string::npos) {
            execution = e;
          }
        }
        return !execution.is_null();
      },
      std::chrono::seconds(30)))
      << node().Log();
  Json done = WaitFinal(api, execution["id"]);
  EXPECT_EQ(done["status"], "succeeded");
  EXPECT_EQ(done["result"]["stdout"], "deploying billing\ndone\n");

  EXPECT_EQ(api.Call("POST", "/v1/webhooks/no-such-hook", &body)->status, 404);
  Json generic_bad = {{"trigger", "core.st2.IntervalTimer"}, {"payload", {{"executed_at", 5}}}};
  auto refused = api.Call("POST", "/v1/webhooks/st2", &generic_bad);
  EXPECT_EQ(refused->status, 400) << refused->body;
  Json generic_unknown = {{"trigger", "nope.nothing"}, {"payload", Json::object()}};
  EXPECT_EQ(api.Call("POST", "/v1/webhooks/st2", &generic_unknown)->status, 400);
}

TEST_F(ApiTest, EncryptedKeysStayEncryptedUnlessDecryptIsAsked) {
  auto api = Api();
  Json put = {{"value", "hunter2"}, {"encrypt", true}};
  auto set = api.Call("PUT", "/v1/keys/db.password", &put);
  ASSERT_EQ(set->status, 200) << set->body;
  EXPECT_EQ(set->body.find("hunter2"), std::string::npos);
  auto listed = api.Call("GET", "/v1/keys?prefix=db.");
  EXPECT_EQ(listed->body.find("hunter2"), std::string::npos) << listed->body;
  EXPECT_EQ(listed->json()[0]["encrypted"], true);
  EXPECT_EQ(api.Call("GET", "/v1/keys/db.password?decrypt=true")->json()["value"], "hunter2");
  // At rest: sealed in the store, under a key file only the owner may read.
  auto store = node().OpenStore();
  auto raw = store->GetKey({"db.password", store::KeyScope::kSystem, ""}, store::NowMs());
  ASSERT_TRUE(raw.ok() && raw->has_value());
  EXPECT_EQ((*raw)->value.rfind("aes256gcm2:", 0), 0u);
  // Bound to its key: the same sealed value written under another name by someone with write
  // access to the store does not open there.
  store::KeyValue copy = **raw;
  copy.name = "db.other";
  ASSERT_TRUE(store->SetKey(copy, store::NowMs()).ok());
  const Json swapped = api.Call("GET", "/v1/keys/db.other?decrypt=true")->json();
  EXPECT_EQ(swapped["value"], "");
  EXPECT_NE(
      swapped.value("error", "")
          .find("datastore value of system:db.other does not open: it was sealed for another key"),
      std::string::npos)
      << swapped;
  struct stat st {};
  ASSERT_EQ(stat((node().home() + "/keys/datastore.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(node().Log().find("hunter2"), std::string::npos);

  Json user_key = {{"value", "mine"}, {"scope", "st2kv.user"}, {"user", "alice"}, {"ttl", 1}};
  EXPECT_EQ(api.Call("PUT", "/v1/keys/pref", &user_key)->status, 200);
  EXPECT_EQ(api.Call("GET", "/v1/keys/pref?scope=st2kv.user&user=alice")->json()["value"], "mine");
  EXPECT_EQ(api.Call("GET", "/v1/keys/pref")->status, 404) << "user keys are not system keys";
  EXPECT_TRUE(WaitFor(
      [&] { return api.Call("GET", "/v1/keys/pref?scope=st2kv.user&user=alice")->status == 404; },
      std::chrono::seconds(10)))
      << "the TTL did not expire the key";
  EXPECT_EQ(api.Call("DELETE", "/v1/keys/db.password")->status, 204);
  EXPECT_EQ(api.Call("DELETE", "/v1/keys/db.password")->status, 404);
}

TEST_F(ApiTest, CatalogStreamAndMetricsDescribeTheNode) {
  auto api = Api();
  EXPECT_NE(api.Call("GET", "/v1/packs")->body.find("\"hooks\""), std::string::npos);
  EXPECT_NE(api.Call("GET", "/v1/actions")->body.find("core.http"), std::string::npos);
  EXPECT_NE(api.Call("GET", "/v1/rules")->body.find("hooks.on_deploy"), std::string::npos);
  EXPECT_EQ(api.Call("GET", "/v1/sensors")->status, 200);
  EXPECT_EQ(api.Call("GET", "/v1/nodes")->json()[0]["name"], "test-node");
  EXPECT_EQ(api.Call("POST", "/v1/packs/reload")->json()["active_packs"], 2);

  // Disabled through the API: the webhook's rule no longer runs; enabled again: it does.
  Json off = {{"enabled", false}}, on = {{"enabled", true}};
  ASSERT_EQ(api.Call("PUT", "/v1/rules/hooks.on_deploy", &off)->status, 200);
  for (const auto& r : api.Call("GET", "/v1/rules")->json()) {
    if (r["ref"] == "hooks.on_deploy") {
      EXPECT_EQ(r["enabled"], false);
    }
  }
  ASSERT_EQ(api.Call("PUT", "/v1/rules/hooks.on_deploy", &on)->status, 200);

  // The event stream shows an execution requested after it opened.
  std::mutex mu;
  std::string events;
  std::thread reader([&] {
    auto streamed = Api().Stream("/v1/stream", [&](const std::string& d) {
      std::lock_guard lock(mu);
      events += d;
      return events.find("\"succeeded\"") == std::string::npos;
    });
    EXPECT_TRUE(streamed.ok()) << streamed.message();
  });
  // The stream's first line comes once it reads the topic: events from then on are seen.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return !events.empty();
      },
      std::chrono::seconds(30)));
  Json noop = {{"action", "core.noop"}};
  const std::string id = api.Call("POST", "/v1/executions", &noop)->json()["id"];
  reader.join();
  EXPECT_NE(events.find("event: st2.execution__update"), std::string::npos) << events;
  EXPECT_NE(events.find(id), std::string::npos) << events;

  const std::string metrics = api.Call("GET", "/metrics")->body;
  EXPECT_NE(metrics.find("# TYPE gale_executions gauge"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("gale_executions{status=\"succeeded\"}"), std::string::npos);
  EXPECT_NE(metrics.find("gale_consumer_lag{group=\"" + node().topic_prefix() + "rules\""),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("gale_runner_slots_busy{node=\"test-node\"}"), std::string::npos);
  EXPECT_NE(metrics.find("gale_triggers_dispatched_total"), std::string::npos);
}

}  // namespace
}  // namespace gale::testing
