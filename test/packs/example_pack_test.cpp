// The shipped examples pack: its metadata, and its sensor and action doing their jobs.
#include <gtest/gtest.h>

#include <fstream>

#include "fake_services.h"
#include "host/common/json.h"
#include "host/packs/catalog.h"
#include "host/packs/library.h"
#include "test/support/pack_dir.h"

namespace gale::packs {
namespace {

namespace fs = std::filesystem;
const std::string kPacks = std::string(GALE_BINARY_DIR) + "/packs";

TEST(ExamplePackTest, LoadsWithExpectedContents) {
  Catalog catalog = Catalog::Load({kPacks});
  EXPECT_TRUE(catalog.errors().empty());
  const Pack* p = catalog.FindPack("examples");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->ok()) << p->errors[0];
  EXPECT_EQ(p->version, "0.1.0");
  ASSERT_EQ(p->sensors.size(), 1u);
  EXPECT_EQ(p->sensors[0].ref, "examples.DirectorySensor");
  EXPECT_EQ(p->sensors[0].poll_interval, 1);
  EXPECT_EQ(p->sensors[0].trigger_types, std::vector<std::string>{"examples.changed_file"});
  ASSERT_EQ(p->trigger_types.size(), 1u);
  EXPECT_EQ(p->trigger_types[0].payload_schema["required"],
            Json::parse(R"(["path", "time", "status"])"));
  ASSERT_EQ(p->actions.size(), 1u);
  EXPECT_EQ(p->actions[0].ref, "examples.output_context");
  EXPECT_EQ(p->actions[0].runner_type, "native");
  ASSERT_EQ(p->rules.size(), 1u);
  EXPECT_EQ(p->rules[0].trigger_type, "examples.changed_file");
  EXPECT_EQ(p->rules[0].action_ref, "examples.output_context");
  ASSERT_TRUE(p->library.has_value());
  EXPECT_EQ(p->library->abi_version, plugin::kAbiVersion);
  EXPECT_EQ(p->library->sensor_classes, std::vector<std::string>{"DirectorySensor"});
  EXPECT_EQ(p->library->actions, std::vector<std::string>{"output_context"});
  EXPECT_EQ(p->config["log"], "/tmp/gale-examples/context.log");

  const Pack* core = catalog.FindPack("core");
  ASSERT_NE(core, nullptr);
  ASSERT_TRUE(core->ok()) << core->errors[0];
  for (const char* ref : {"core.local", "core.noop", "core.echo", "core.http"}) {
    EXPECT_NE(catalog.FindAction(ref), nullptr) << ref;
  }
}

TEST(ExamplePackTest, DirectorySensorReportsCreatedModifiedDeleted) {
  testing::TempDir dir;
  auto lib = PackLibrary::Load(kPacks + "/examples/libexamples.so");
  ASSERT_TRUE(lib.ok()) << lib.message();
  testing::RecordingSensorService service(Json{{"directories", {dir.str()}}}.dump());
  auto sensor = (*lib)->CreateSensor("DirectorySensor", service);
  ASSERT_TRUE(sensor.ok()) << sensor.message();
  ASSERT_TRUE((*sensor)->polling());
  std::ofstream(dir.path() / "old.txt") << "x";
  ASSERT_TRUE((*sensor)->setup().ok);
  ASSERT_TRUE((*sensor)->poll().ok);
  EXPECT_TRUE(service.dispatched.empty());  // files present at setup are the baseline

  std::ofstream(dir.path() / "new.txt") << "hello";
  std::ofstream(dir.path() / "old.txt", std::ios::app) << "more";
  ASSERT_TRUE((*sensor)->poll().ok);
  ASSERT_EQ(service.dispatched.size(), 2u);
  std::map<std::string, Json> by_path;
  for (const auto& d : service.dispatched) {
    EXPECT_EQ(d.trigger, "examples.changed_file");
    Json payload = Json::parse(d.payload_json);
    by_path[payload["path"]] = payload;
  }
  EXPECT_EQ(by_path[(dir.path() / "new.txt").string()]["status"], "created");
  EXPECT_EQ(by_path[(dir.path() / "old.txt").string()]["status"], "modified");
  EXPECT_TRUE(by_path[(dir.path() / "new.txt").string()]["time"].is_string());

  service.dispatched.clear();
  fs::remove(dir.path() / "new.txt");
  ASSERT_TRUE((*sensor)->poll().ok);
  ASSERT_EQ(service.dispatched.size(), 1u);
  EXPECT_EQ(Json::parse(service.dispatched[0].payload_json)["status"], "deleted");
  EXPECT_TRUE((*sensor)->cleanup().ok);
}

TEST(ExamplePackTest, OutputContextAppendsToTheConfiguredLog) {
  testing::TempDir dir;
  const std::string log = (dir.path() / "context.log").string();
  auto lib = PackLibrary::Load(kPacks + "/examples/libexamples.so");
  ASSERT_TRUE(lib.ok()) << lib.message();
  testing::StaticActionService service(Json{{"log", log}}.dump());
  auto action = (*lib)->CreateAction("output_context", service);
  ASSERT_TRUE(action.ok()) << action.message();
  EXPECT_EQ((*action)->run(R"({"context": "first"})").status, plugin::ActionStatus::kSucceeded);
  EXPECT_EQ((*action)->run(R"({"context": "second"})").status, plugin::ActionStatus::kSucceeded);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "first\nsecond\n");

  testing::StaticActionService unconfigured("{}");
  auto failing = (*lib)->CreateAction("output_context", unconfigured);
  plugin::ActionOutcome out = (*failing)->run(R"({"context": "x"})");
  EXPECT_EQ(out.status, plugin::ActionStatus::kFailed);
  EXPECT_NE(out.result_json.find("The output filepath is invalid"), std::string::npos);
}

}  // namespace
}  // namespace gale::packs
