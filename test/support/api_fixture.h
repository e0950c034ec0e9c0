// A real `gale up` (embedded bus, SQLite) with the core pack and a `hooks` pack whose rule
// listens on webhook `deploy`, shared by the API and CLI tests; plus a raw HTTP helper for the
// cases no well-behaved client would send.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "host/cli/api_client.h"
#include "test/support/node_harness.h"

namespace gale::testing {

// Writes packs/core (copied from the build) and packs/hooks under `root`.
void WriteApiPacks(const std::filesystem::path& root);

// One raw exchange on a new connection: sends `bytes`, reads until the server closes or
// `timeout`; returns what came back (empty when nothing did).
std::string RawExchange(const std::string& url, const std::string& bytes,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
// The status code of a raw HTTP response ("HTTP/1.1 413 ..." -> 413), 0 when none.
int StatusOf(const std::string& response);

// Runs `gale ARGS` (with GALE_HOME=home unless `home` is empty, and never the CI's store or
// broker variables: a node's store is its own SQLite file); returns its output (stdout and
// stderr) and sets *code to the exit code.
std::string RunGale(const std::string& home, const std::string& args, int* code);

// How a client reaches `node`'s API: its URL and its api.token (or `key` when given).
cli::ApiFlags ApiFlagsOf(const NodeProcess& node, const std::string& key = "");
// The Host header value that names `url`'s API ("http://127.0.0.1:4242" -> "127.0.0.1:4242").
std::string HostOf(const std::string& url);

// Polls GET /v1/executions/ID until its status is final; returns the last document.
Json WaitFinal(cli::ApiClient& api, const std::string& id,
               std::chrono::seconds timeout = std::chrono::seconds(60));

class ApiNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  static NodeProcess& node() { return *node_; }
  // A client with `key`, else the node's token.
  static cli::ApiClient Api(const std::string& key = "");

  static std::unique_ptr<TempDir> packs_;
  static std::unique_ptr<NodeProcess> node_;
};

}  // namespace gale::testing
