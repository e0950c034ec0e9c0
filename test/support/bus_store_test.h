// A test fixture parameterised by BusTarget: a bus of its own (see test_bus.h) whose messages are
// signed with a bus key of its own (as a node's are), a temporary directory holding a SQLite
// store, and a producer on the bus. Suites derive from it and name
// their stem ("gale-runner-test"), used for the topic prefix and the directory.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "host/bus/bus.h"
#include "host/store/key_cipher.h"
#include "host/store/store.h"
#include "test/support/test_bus.h"

namespace gale::testing {

class BusStoreTest : public ::testing::TestWithParam<BusTarget> {
 protected:
  explicit BusStoreTest(std::string stem) : stem_(std::move(stem)) {}
  void SetUp() override;
  void TearDown() override;

  std::string StoreUrl() const { return "sqlite://" + (dir_ / "gale.db").string(); }
  // The deployment's datastore cipher: its key file in dir_ (created on first use).
  store::KeyCipher Cipher() const;

  TestBus bus_;
  bus::BusConfig& config_ = bus_.config;
  std::filesystem::path dir_;
  store::StorePtr store_;
  std::unique_ptr<bus::Producer> producer_;

 private:
  std::string stem_;
};

}  // namespace gale::testing
