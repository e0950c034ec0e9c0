#include "test/support/bus_store_test.h"

#include "test/support/test_store.h"

namespace gale::testing {

void BusStoreTest::SetUp() {
  StartTestBus(GetParam(), stem_, &bus_);
  if (IsSkipped() || HasFatalFailure()) return;
  config_.signing_key = "bus key of " + stem_;
  dir_ = MakeTempDir(stem_);
  ASSERT_FALSE(dir_.empty());
  auto st = OpenTestStore(StoreUrl());
  ASSERT_TRUE(st.ok()) << st.message();
  store_ = std::move(st).value();
  auto producer = bus::Producer::Create(config_);
  ASSERT_TRUE(producer.ok()) << producer.message();
  producer_ = std::move(producer).value();
}

store::KeyCipher BusStoreTest::Cipher() const {
  auto cipher = store::KeyCipher::LoadOrCreate((dir_ / "keys" / "datastore.key").string());
  EXPECT_TRUE(cipher.ok()) << cipher.message();
  return cipher.ok() ? *cipher : store::KeyCipher();
}

void BusStoreTest::TearDown() {
  producer_.reset();
  store_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

}  // namespace gale::testing
