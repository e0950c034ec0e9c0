// Conformance: trigger instances, datastore keys, dedupe keys, nodes, sensors, leases, GC.
#include <atomic>
#include <random>
#include <thread>

#include "host/store/gc.h"
#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using RecordsTest = StoreTest;

// ---- trigger instances

TriggerInstance Instance(const std::string& id, TimeMs at, const std::string& trigger) {
  TriggerInstance t;
  t.id = id;
  t.trigger = trigger;
  t.payload = {{"path", "/tmp/a \"b\""}, {"size", 12}, {"nested", {{"k", {1, 2, 3}}}}};
  t.occurred_at = at;
  t.dedupe_key = "/tmp/a";
  t.sensor = "examples.FileWatch";
  t.node = "node-a";
  t.trace_id = "trace-" + id;
  return t;
}

TEST_P(RecordsTest, TriggerInstancesInsertOnceAndList) {
  ASSERT_TRUE(*store().InsertTriggerInstance(Instance("t1", 10, "pack.file")));
  auto dup = store().InsertTriggerInstance(Instance("t1", 99, "pack.other"));
  ASSERT_TRUE(dup.ok()) << dup.message();
  EXPECT_FALSE(*dup);
  auto got = store().GetTriggerInstance("t1");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.message();
  const TriggerInstance& g = **got;
  EXPECT_EQ(g.trigger, "pack.file");
  EXPECT_EQ(g.payload, Instance("t1", 10, "x").payload);
  EXPECT_EQ(g.occurred_at, 10);
  EXPECT_EQ(g.dedupe_key, "/tmp/a");
  EXPECT_EQ(g.sensor, "examples.FileWatch");
  EXPECT_EQ(g.node, "node-a");
  EXPECT_EQ(g.trace_id, "trace-t1");
  EXPECT_EQ(g.status, TriggerStatus::kPending);

  ASSERT_TRUE(*store().SetTriggerInstanceStatus("t1", TriggerStatus::kProcessed));
  EXPECT_EQ((*store().GetTriggerInstance("t1"))->status, TriggerStatus::kProcessed);
  EXPECT_FALSE(*store().SetTriggerInstanceStatus("nope", TriggerStatus::kProcessed));
  EXPECT_FALSE(store().GetTriggerInstance("nope")->has_value());

  for (int i = 2; i <= 12; ++i) {
    ASSERT_TRUE(*store().InsertTriggerInstance(
        Instance("t" + std::to_string(i), 10 + i, i % 2 ? "pack.file" : "pack.timer")));
  }
  TriggerInstanceQuery q;
  q.trigger = "pack.file";
  q.limit = 4;
  std::vector<std::string> ids;
  while (true) {
    auto page = store().ListTriggerInstances(q);
    ASSERT_TRUE(page.ok()) << page.message();
    for (const auto& t : page->items) ids.push_back(t.id);
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"t11", "t9", "t7", "t5", "t3", "t1"}));
  TriggerInstanceQuery window;
  window.since = 15;
  window.until = 18;
  auto w = store().ListTriggerInstances(window);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->items.size(), 3u);
  EXPECT_EQ(w->items[0].id, "t7");
}

// What the node's recovery reads at start: the instances still pending, each with the trigger
// parameters it was fired with.
TEST_P(RecordsTest, PendingInstancesAreFoundByStatusWithTheirTriggerParameters) {
  TriggerInstance webhook = Instance("w1", 20, "core.st2.webhook");
  webhook.trigger_parameters = {{"url", "deploy"}};
  ASSERT_TRUE(*store().InsertTriggerInstance(webhook));
  ASSERT_TRUE(*store().InsertTriggerInstance(Instance("w2", 21, "core.st2.webhook")));
  ASSERT_TRUE(*store().InsertTriggerInstance(Instance("w3", 22, "core.st2.webhook")));
  ASSERT_TRUE(*store().SetTriggerInstanceStatus("w2", TriggerStatus::kProcessed));
  ASSERT_TRUE(*store().SetTriggerInstanceStatus("w3", TriggerStatus::kProcessingFailed));

  TriggerInstanceQuery pending;
  pending.statuses = {TriggerStatus::kPending};
  auto page = store().ListTriggerInstances(pending);
  ASSERT_TRUE(page.ok()) << page.message();
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, "w1");
  EXPECT_EQ(page->items[0].trigger_parameters, Json({{"url", "deploy"}}));
  pending.statuses = {TriggerStatus::kProcessed, TriggerStatus::kProcessingFailed};
  EXPECT_EQ(store().ListTriggerInstances(pending)->items.size(), 2u);
  EXPECT_EQ((*store().GetTriggerInstance("w2"))->trigger_parameters, Json::object());
}

// ---- datastore

TEST_P(RecordsTest, KeyNamesAndValuesOfAnyBytesRoundTrip) {
  std::mt19937 rng(42);
  std::string big(1 << 20, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  std::vector<std::pair<std::string, std::string>> cases = {
      {"plain", "value"},
      {"quotes'\"`", "it's \"quoted\" `x`"},
      {std::string("nul\0name", 8), std::string("nul\0value\0", 10)},
      {"\xff\xfe high bytes", "\x80\x81 not utf-8 \xc3\x28"},
      {"ünïcødé/ключ", "значение ✓"},
      {"empty-value", ""},
      {"big", big},
  };
  for (const auto& [name, value] : cases) {
    KeyValue kv;
    kv.name = name;
    kv.value = value;
    ASSERT_TRUE(store().SetKey(kv, 100).ok()) << store().SetKey(kv, 100).message();
  }
  for (const auto& [name, value] : cases) {
    auto got = store().GetKey({name}, 100);
    ASSERT_TRUE(got.ok()) << got.message();
    ASSERT_TRUE(got->has_value()) << "missing key of " << name.size() << " bytes";
    EXPECT_EQ((*got)->name, name);
    EXPECT_TRUE((*got)->value == value) << "value of key " << (*got)->name.size() << " bytes";
    EXPECT_EQ((*got)->scope, KeyScope::kSystem);
    EXPECT_EQ((*got)->updated_at, 100);
  }
  auto list = store().ListKeys(KeyScope::kSystem, "", "", 100);
  ASSERT_TRUE(list.ok()) << list.message();
  EXPECT_EQ(list->size(), cases.size());
}

// SwapKey, the compare-and-set workflow state is written with (host/store/workflow_state.h):
// a write happens only over the value the writer read, so of concurrent writers one wins per
// round and none is lost when each reads again and retries.
TEST_P(RecordsTest, SwapKeyWritesOnlyOverTheValueRead) {
  KeyValue kv{"workflow/x", "v1", KeyScope::kGale, "", 0, false, 0};
  auto first = store().SwapKey(kv, std::nullopt, 10);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(*first);
  EXPECT_FALSE(*store().SwapKey(kv, std::nullopt, 11)) << "it exists: not a first write";
  kv.value = "v2";
  EXPECT_FALSE(*store().SwapKey(kv, std::string("stale"), 12));
  EXPECT_EQ((*store().GetKey({"workflow/x", KeyScope::kGale, ""}, 12))->value, "v1");
  EXPECT_TRUE(*store().SwapKey(kv, std::string("v1"), 13));
  auto got = store().GetKey({"workflow/x", KeyScope::kGale, ""}, 13);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "v2");
  EXPECT_EQ((*got)->updated_at, 13);
  EXPECT_FALSE(*store().SwapKey(kv, std::string("v1"), 14)) << "v1 was replaced";

  // Four threads add 25 increments each to one counter, read-modify-swap: none is lost.
  kv.value = "0";
  ASSERT_TRUE(store().SetKey(kv, 20).ok());
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        while (true) {
          auto now = store().GetKey({"workflow/x", KeyScope::kGale, ""}, 20);
          if (!now.ok() || !now->has_value()) {
            errors++;
            return;
          }
          KeyValue next = kv;
          next.value = std::to_string(std::stoi((*now)->value) + 1);
          auto swapped = store().SwapKey(next, (*now)->value, 20);
          if (!swapped.ok()) {
            errors++;
            return;
          }
          if (*swapped) break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ((*store().GetKey({"workflow/x", KeyScope::kGale, ""}, 20))->value, "100");
}

TEST_P(RecordsTest, OversizedKeysAreRefusedWithAMessage) {
  KeyValue kv;
  kv.name = "huge";
  kv.value = std::string(kMaxKeyValueBytes + 1, 'x');
  Status s = store().SetKey(kv, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("4 MiB"), std::string::npos) << s.message();
  EXPECT_FALSE(store().GetKey({"huge"}, 1)->has_value());
  kv.value = std::string(kMaxKeyValueBytes, 'x');
  EXPECT_TRUE(store().SetKey(kv, 1).ok()) << "exactly the limit is accepted";
  KeyValue long_name;
  long_name.name = std::string(kMaxKeyNameBytes + 1, 'n');
  EXPECT_FALSE(store().SetKey(long_name, 1).ok());
  KeyValue empty;
  EXPECT_FALSE(store().SetKey(empty, 1).ok());
}

TEST_P(RecordsTest, ScopesSecretsUpdatesAndDeletes) {
  KeyValue sys{"token", "s", KeyScope::kSystem, "", 0, false, 0};
  KeyValue alice{"token", "a-cipher", KeyScope::kUser, "alice", 0, true, 0};
  KeyValue bob{"token", "b", KeyScope::kUser, "bob", 0, false, 0};
  for (const auto& kv : {sys, alice, bob}) ASSERT_TRUE(store().SetKey(kv, 10).ok());
  auto a = store().GetKey({"token", KeyScope::kUser, "alice"}, 10);
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->value, "a-cipher");
  EXPECT_TRUE((*a)->secret);
  EXPECT_EQ((*a)->user, "alice");
  EXPECT_EQ((*store().GetKey({"token"}, 10))->value, "s");
  KeyValue user_without_name{"x", "v", KeyScope::kUser, "", 0, false, 0};
  EXPECT_FALSE(store().SetKey(user_without_name, 10).ok());

  alice.value = "new";
  alice.secret = false;
  ASSERT_TRUE(store().SetKey(alice, 20).ok());
  auto a2 = store().GetKey({"token", KeyScope::kUser, "alice"}, 20);
  EXPECT_EQ((*a2)->value, "new");
  EXPECT_FALSE((*a2)->secret);
  EXPECT_EQ((*a2)->updated_at, 20);

  EXPECT_TRUE(*store().DeleteKey({"token", KeyScope::kUser, "alice"}));
  EXPECT_FALSE(*store().DeleteKey({"token", KeyScope::kUser, "alice"}));
  EXPECT_FALSE(store().GetKey({"token", KeyScope::kUser, "alice"}, 20)->has_value());
  EXPECT_TRUE(store().GetKey({"token", KeyScope::kUser, "bob"}, 20)->has_value());
}

TEST_P(RecordsTest, ListsKeysByPrefixInByteOrder) {
  for (const std::string& name :
       {std::string("app.a"), std::string("app.b"), std::string("app.\xff"), std::string("app"),
        std::string("apq"), std::string("ap"), std::string("b")}) {
    ASSERT_TRUE(store().SetKey({name, "v", KeyScope::kSystem, "", 0, false, 0}, 1).ok());
  }
  ASSERT_TRUE(store().SetKey({"app.user", "v", KeyScope::kUser, "u", 0, false, 0}, 1).ok());
  auto names = [&](const std::string& prefix) {
    std::vector<std::string> out;
    auto r = store().ListKeys(KeyScope::kSystem, "", prefix, 1);
    EXPECT_TRUE(r.ok()) << r.message();
    if (r.ok()) {
      for (const auto& kv : *r) out.push_back(kv.name);
    }
    return out;
  };
  EXPECT_EQ(names("app."), (std::vector<std::string>{"app.a", "app.b", std::string("app.\xff")}));
  EXPECT_EQ(names("app"),
            (std::vector<std::string>{"app", "app.a", "app.b", std::string("app.\xff")}));
  EXPECT_EQ(names("ap").size(), 6u);
  EXPECT_EQ(names("").size(), 7u);
  EXPECT_TRUE(names("zzz").empty());
  auto user = store().ListKeys(KeyScope::kUser, "u", "app", 1);
  ASSERT_TRUE(user.ok());
  ASSERT_EQ(user->size(), 1u);
  EXPECT_EQ((*user)[0].name, "app.user");
  // Gale's own records live apart from the datastore's system keys of the same name.
  ASSERT_TRUE(store().SetKey({"app.a", "own", KeyScope::kGale, "", 0, false, 0}, 1).ok());
  auto own = store().ListKeys(KeyScope::kGale, "", "app", 1);
  ASSERT_TRUE(own.ok());
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ((*own)[0].value, "own");
  EXPECT_EQ(names("app.").size(), 3u);
  auto system = store().GetKey({"app.a", KeyScope::kSystem, ""}, 1);
  ASSERT_TRUE(system.ok() && system->has_value());
  EXPECT_EQ((*system)->value, "v");
}

TEST_P(RecordsTest, KeysExpireByInjectedTime) {
  ASSERT_TRUE(store().SetKey({"short", "v", KeyScope::kSystem, "", 1000, false, 0}, 1).ok());
  ASSERT_TRUE(store().SetKey({"forever", "v", KeyScope::kSystem, "", 0, false, 0}, 1).ok());
  EXPECT_TRUE(store().GetKey({"short"}, 999)->has_value());
  EXPECT_FALSE(store().GetKey({"short"}, 1000)->has_value());
  EXPECT_EQ(store().ListKeys(KeyScope::kSystem, "", "", 999)->size(), 2u);
  EXPECT_EQ(store().ListKeys(KeyScope::kSystem, "", "", 1000)->size(), 1u);
  auto gc = store().CollectGarbage({}, 1000);
  ASSERT_TRUE(gc.ok()) << gc.message();
  EXPECT_EQ(gc->keys, 1);
  // Setting it again revives it.
  ASSERT_TRUE(store().SetKey({"short", "w", KeyScope::kSystem, "", 5000, false, 0}, 1001).ok());
  EXPECT_EQ((*store().GetKey({"short"}, 1001))->value, "w");
}

// ---- dedupe

TEST_P(RecordsTest, DedupeKeysCollapseWithinTheirWindow) {
  EXPECT_TRUE(*store().InsertDedupeKey("/nfs/a.csv", "ti-1", 1000, 10));
  EXPECT_FALSE(*store().InsertDedupeKey("/nfs/a.csv", "ti-2", 1000, 500));
  EXPECT_TRUE(*store().InsertDedupeKey("/nfs/a.csv", "ti-1", 1000, 10)) << "its owner again";
  EXPECT_FALSE(*store().InsertDedupeKey("/nfs/a.csv", "ti-3", 1000, 1009));
  EXPECT_TRUE(*store().InsertDedupeKey("/nfs/a.csv", "ti-4", 1000, 1010)) << "window over";
  EXPECT_FALSE(*store().InsertDedupeKey("/nfs/a.csv", "ti-1", 1000, 1500)) << "a new window";
  EXPECT_TRUE(*store().InsertDedupeKey("/nfs/a.csv", "ti-4", 1000, 1010)) << "its new owner";
  EXPECT_TRUE(*store().InsertDedupeKey(std::string("bin\0key\xff", 8), "ti-1", 1000, 10));
  EXPECT_FALSE(*store().InsertDedupeKey(std::string("bin\0key\xff", 8), "ti-2", 1000, 11));
  EXPECT_FALSE(store().InsertDedupeKey("", "ti-1", 1000, 10).ok());
  EXPECT_FALSE(store().InsertDedupeKey("k", "ti-1", 0, 10).ok());
}

TEST_P(RecordsTest, ConcurrentDedupeInsertsLetOneThrough) {
  for (int round = 0; round < 20; ++round) {
    std::string key = "race-" + std::to_string(round);
    std::atomic<int> inserted{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto r = store().InsertDedupeKey(key, "ti-" + std::to_string(t), 1000, 50);
        if (!r.ok()) errors.fetch_add(1);
        if (r.ok() && *r) inserted.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(inserted.load(), 1) << key;
  }
  // And once expired, again exactly one.
  std::atomic<int> inserted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = store().InsertDedupeKey("race-0", "ti-" + std::to_string(t), 1000, 5000);
      if (r.ok() && *r) inserted.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(inserted.load(), 1);
}

// ---- nodes and sensors

TEST_P(RecordsTest, NodesHeartbeat) {
  NodeInfo n{"node-a", {"rules", "runner"}, 100, 100, {{"pid", 42}}};
  ASSERT_TRUE(store().Heartbeat(n).ok());
  n.heartbeat_at = 200;
  ASSERT_TRUE(store().Heartbeat(n).ok());
  ASSERT_TRUE(store().Heartbeat({"node-b", {}, 150, 150, Json::object()}).ok());
  auto a = store().GetNode("node-a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->heartbeat_at, 200);
  EXPECT_EQ((*a)->started_at, 100);
  EXPECT_EQ((*a)->roles, (std::vector<std::string>{"rules", "runner"}));
  EXPECT_EQ((*a)->info["pid"], 42);
  auto all = store().ListNodes();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "node-a");
  EXPECT_FALSE(store().GetNode("node-z")->has_value());
}

TEST_P(RecordsTest, SensorStatus) {
  ASSERT_TRUE(store().PutSensorStatus({"pack.Watch", "node-a", "running", 0, "", 10}).ok());
  ASSERT_TRUE(store().PutSensorStatus({"pack.Poll", "node-b", "running", 0, "", 10}).ok());
  ASSERT_TRUE(
      store().PutSensorStatus({"pack.Watch", "node-a", "failed", 3, "segfault \"x\"", 20}).ok());
  auto w = store().GetSensorStatus("pack.Watch");
  ASSERT_TRUE(w.ok() && w->has_value());
  EXPECT_EQ((*w)->state, "failed");
  EXPECT_EQ((*w)->restarts, 3);
  EXPECT_EQ((*w)->last_error, "segfault \"x\"");
  EXPECT_EQ((*w)->updated_at, 20);
  EXPECT_EQ(store().ListSensorStatus("")->size(), 2u);
  auto on_b = store().ListSensorStatus("node-b");
  ASSERT_TRUE(on_b.ok());
  ASSERT_EQ(on_b->size(), 1u);
  EXPECT_EQ((*on_b)[0].ref, "pack.Poll");
}

// ---- leases

TEST_P(RecordsTest, LeasesHaveOneHolderAtATime) {
  EXPECT_TRUE(*store().TryAcquireLease("gc", "node-a", 1000, 0));
  EXPECT_FALSE(*store().TryAcquireLease("gc", "node-b", 1000, 500));
  EXPECT_TRUE(*store().TryAcquireLease("gc", "node-a", 1000, 900)) << "renewal";
  EXPECT_FALSE(*store().TryAcquireLease("gc", "node-b", 1000, 1500)) << "renewed until 1900";
  EXPECT_TRUE(*store().TryAcquireLease("gc", "node-b", 1000, 1900)) << "expired";
  EXPECT_FALSE(*store().ReleaseLease("gc", "node-a"));
  EXPECT_TRUE(*store().ReleaseLease("gc", "node-b"));
  EXPECT_TRUE(*store().TryAcquireLease("gc", "node-a", 1000, 2000)) << "released";
  EXPECT_TRUE(*store().TryAcquireLease("other", "node-b", 1000, 2000));
  EXPECT_FALSE(store().TryAcquireLease("gc", "node-a", 0, 2000).ok());
}

TEST_P(RecordsTest, ConcurrentLeaseContendersGetOneHolder) {
  for (int round = 0; round < 10; ++round) {
    std::atomic<int> held{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        auto r =
            store().TryAcquireLease("singleton", "node-" + std::to_string(t), 1000, round * 10000);
        if (!r.ok()) errors.fetch_add(1);
        if (r.ok() && *r) held.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(held.load(), 1) << "round " << round;
  }
}

// ---- garbage collection

TEST_P(RecordsTest, GarbageCollectionDeletesByTtl) {
  auto exec = [&](const std::string& id, TimeMs at) {
    Execution e;
    e.id = id;
    e.action = "core.noop";
    e.requested_at = at;
    ASSERT_TRUE(*store().CreateExecution(e));
    ASSERT_TRUE(*store().ClaimExecution(id, "n", at + 100000, at));
    ASSERT_TRUE(store().AppendOutput(id, "stdout", "out", at).ok());
  };
  exec("old-done", 100);
  exec("old-running", 100);
  exec("new-done", 9000);
  for (const char* id : {"old-done", "new-done"}) {
    auto e = store().GetExecution(id);
    ASSERT_TRUE(*store().TransitionExecution(
        {id, {ExecStatus::kRunning}, ExecStatus::kSucceeded, (*e)->requested_at + 10}));
  }
  ASSERT_TRUE(store().AppendOutput("old-running", "stdout", "late", 9500).ok());
  ASSERT_TRUE(*store().InsertTriggerInstance(Instance("t-old", 100, "p.t")));
  ASSERT_TRUE(*store().InsertTriggerInstance(Instance("t-new", 9000, "p.t")));
  ASSERT_TRUE(*store().InsertDedupeKey("d", "ti-1", 100, 100));
  ASSERT_TRUE(*store().InsertDedupeKey("d-live", "ti-1", 1000000000, 100));

  GcPolicy policy;
  policy.executions_ttl = 5000;
  policy.output_ttl = 5000;
  policy.trigger_instances_ttl = 5000;
  auto counts = store().CollectGarbage(policy, 10000);
  ASSERT_TRUE(counts.ok()) << counts.message();
  EXPECT_EQ(counts->executions, 1);
  EXPECT_EQ(counts->output_chunks, 2);  // old-done's chunk, and old-running's first chunk
  EXPECT_EQ(counts->trigger_instances, 1);
  EXPECT_EQ(counts->dedupe_keys, 0) << "expired, but within the grace period";
  EXPECT_FALSE(store().GetExecution("old-done")->has_value());
  EXPECT_TRUE(store().GetExecution("old-running")->has_value()) << "running is never collected";
  EXPECT_TRUE(store().GetExecution("new-done")->has_value());
  EXPECT_EQ(store().ReadOutput("old-running", 0)->size(), 1u);
  EXPECT_EQ(store().ReadOutput("new-done", 0)->size(), 1u);
  EXPECT_FALSE(store().GetTriggerInstance("t-old")->has_value());
  EXPECT_TRUE(store().GetTriggerInstance("t-new")->has_value());
  EXPECT_FALSE(*store().InsertDedupeKey("d-live", "ti-2", 1000000000, 10000));

  auto nothing = store().CollectGarbage(policy, 10000);
  ASSERT_TRUE(nothing.ok());
  EXPECT_EQ(nothing->executions + nothing->output_chunks + nothing->trigger_instances, 0);
  auto later = store().CollectGarbage({}, 200 + kDedupeGcGraceMs);
  ASSERT_TRUE(later.ok()) << later.message();
  EXPECT_EQ(later->executions + later->output_chunks + later->trigger_instances, 0);
  EXPECT_EQ(later->dedupe_keys, 1);
  EXPECT_TRUE(*store().InsertDedupeKey("d", "ti-2", 100, 200 + kDedupeGcGraceMs));
  EXPECT_FALSE(*store().InsertDedupeKey("d-live", "ti-2", 1000000000, 200 + kDedupeGcGraceMs));
}

TEST_P(RecordsTest, OneGarbageCollectorRunsAtATime) {
  TimeMs now = 1000;
  GcOptions a_options;
  a_options.holder = "node-a";
  a_options.interval = std::chrono::milliseconds(100);
  a_options.clock = [&] { return now; };
  GcOptions b_options = a_options;
  b_options.holder = "node-b";
  GarbageCollector a(store(), a_options), b(store(), b_options);
  auto ra = a.RunOnce();
  ASSERT_TRUE(ra.ok()) << ra.message();
  EXPECT_TRUE(ra->has_value());
  auto rb = b.RunOnce();
  ASSERT_TRUE(rb.ok());
  EXPECT_FALSE(rb->has_value()) << "node-a holds the lease";
  now += 301;  // a's lease (3 x interval) ran out
  auto rb2 = b.RunOnce();
  ASSERT_TRUE(rb2.ok());
  EXPECT_TRUE(rb2->has_value());
  auto ra2 = a.RunOnce();
  ASSERT_TRUE(ra2.ok());
  EXPECT_FALSE(ra2->has_value());
}

TEST_P(RecordsTest, GarbageCollectorThreadStartsAndStops) {
  GcOptions options;
  options.holder = "node-a";
  options.interval = std::chrono::milliseconds(10);
  options.policy.trigger_instances_ttl = 1;
  std::atomic<int> lines{0};
  options.log = [&](const std::string&) { lines.fetch_add(1); };
  ASSERT_TRUE(*store().InsertTriggerInstance(Instance("t-old", 1, "p.t")));
  {
    GarbageCollector gc(store(), options);
    gc.Start();
    for (int i = 0; i < 2000 && store().GetTriggerInstance("t-old")->has_value(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  EXPECT_FALSE(store().GetTriggerInstance("t-old")->has_value());
  EXPECT_GE(lines.load(), 1);
  // Stop released the lease: another node takes it at once.
  EXPECT_TRUE(*store().TryAcquireLease("gale.garbage-collector", "node-b", 1000, NowMs()));
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kMongo), BackendName);

}  // namespace
}  // namespace gale::store::testing
