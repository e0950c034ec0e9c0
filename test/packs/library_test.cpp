// Loading pack libraries: exceptions stay on the pack's side, and objects keep their library.
#include <gtest/gtest.h>

#include "fake_services.h"
#include "host/packs/library.h"

namespace gale::packs {
namespace {

const std::string kThrowing = std::string(GALE_FIXTURE_DIR) + "/libthrowing_pack.so";

TEST(PackLibraryTest, ExceptionsFromSensorsBecomeErrors) {
  auto lib = PackLibrary::Load(kThrowing);
  ASSERT_TRUE(lib.ok()) << lib.message();
  testing::RecordingSensorService service;
  auto sensor = (*lib)->CreateSensor("ThrowingSensor", service);
  ASSERT_TRUE(sensor.ok()) << sensor.message();
  plugin::CallResult setup = (*sensor)->setup();
  EXPECT_FALSE(setup.ok);
  EXPECT_EQ(setup.error, "setup exploded");
  plugin::CallResult poll = (*sensor)->poll();
  EXPECT_FALSE(poll.ok);
  EXPECT_EQ(poll.error, "unknown exception");
  EXPECT_FALSE((*sensor)->run().ok);  // a polling sensor has no run()
}

TEST(PackLibraryTest, ThrowingConstructorIsAnError) {
  auto lib = PackLibrary::Load(kThrowing);
  ASSERT_TRUE(lib.ok()) << lib.message();
  testing::RecordingSensorService service;
  auto sensor = (*lib)->CreateSensor("ThrowingConstructor", service);
  ASSERT_FALSE(sensor.ok());
  EXPECT_EQ(sensor.message(),
            kThrowing + ": cannot create sensor ThrowingConstructor: constructor exploded");
  auto unknown = (*lib)->CreateSensor("Nope", service);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.message(), kThrowing +
                                   ": cannot create sensor Nope: sensor class 'Nope' is not "
                                   "exported by this pack");
}

TEST(PackLibraryTest, ExceptionsFromActionsBecomeFailedOutcomes) {
  auto lib = PackLibrary::Load(kThrowing);
  ASSERT_TRUE(lib.ok()) << lib.message();
  testing::StaticActionService service;
  auto action = (*lib)->CreateAction("throwing_action", service);
  ASSERT_TRUE(action.ok()) << action.message();
  plugin::ActionOutcome out = (*action)->run("{}");
  EXPECT_EQ(out.status, plugin::ActionStatus::kFailed);
  EXPECT_EQ(out.result_json, R"({"error":"action threw: action exploded"})");
  // Malformed parameters are the plugin side's parse error, not a crash.
  out = (*action)->run("{not json");
  EXPECT_EQ(out.status, plugin::ActionStatus::kFailed);
  EXPECT_NE(out.result_json.find("parse error"), std::string::npos) << out.result_json;
}

TEST(PackLibraryTest, InstancesKeepTheLibraryLoaded) {
  testing::RecordingSensorService service;
  std::shared_ptr<plugin::SensorInstance> sensor;
  {
    auto lib = PackLibrary::Load(kThrowing);
    ASSERT_TRUE(lib.ok()) << lib.message();
    sensor = *(*lib)->CreateSensor("ThrowingSensor", service);
  }
  // The PackLibrary handle is gone; the sensor's code must still be mapped.
  EXPECT_EQ(sensor->setup().error, "setup exploded");
  sensor.reset();
}

TEST(PackLibraryTest, MissingFileIsAClearError) {
  auto lib = PackLibrary::Load("/nonexistent/libx.so");
  ASSERT_FALSE(lib.ok());
  EXPECT_EQ(lib.message(),
            "/nonexistent/libx.so: cannot load pack library: cannot open shared object file: No "
            "such file or directory");
}

}  // namespace
}  // namespace gale::packs
