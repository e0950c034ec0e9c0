#include "runner_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "host/common/uuid.h"
#include "host/packs/catalog.h"

namespace gale::runner::test {
namespace fs = std::filesystem;

std::string GaleBinary() {
  return std::string(GALE_BINARY_DIR) + "/bin/gale";
}
std::string PythonShim() {
  return std::string(GALE_BINARY_DIR) + "/share/gale/python";
}
std::string FixturePacks() {
  return std::string(GALE_BINARY_DIR) + "/test-packs/runner";
}
std::string ShippedPacks() {
  return std::string(GALE_BINARY_DIR) + "/packs";
}
std::string HostilePath() {
  return GALE_HOSTILE_PATH;
}

RunnerOptions RunnerTest::Options(const std::string& node) {
  RunnerOptions o;
  o.bus = config_;
  o.store = store_.get();
  o.node_name = node;
  o.gale_binary = GaleBinary();
  o.python_shim = PythonShim();
  o.cipher = Cipher();
  o.max_concurrency = 8;
  o.lease = std::chrono::seconds(3);
  o.shutdown_grace = std::chrono::seconds(5);
  o.cancel_check = std::chrono::milliseconds(200);
  return o;
}

std::shared_ptr<const ActionIndex> RunnerTest::Actions() {
  auto catalog = packs::Catalog::Load(packs_paths_, {.inspect_libraries = false});
  for (const auto& p : catalog.packs()) {
    EXPECT_TRUE(p.ok()) << p.ref << ": " << (p.errors.empty() ? "" : p.errors.front());
  }
  sandbox::Settings defaults;
  defaults.timeout = std::chrono::seconds(60);
  defaults.kill_grace = std::chrono::seconds(1);
  defaults.user = action_user_;
  return ActionIndex::FromCatalog(catalog, defaults);
}

std::unique_ptr<RunnerService> RunnerTest::StartRunner(RunnerOptions options) {
  auto runner = RunnerService::Create(std::move(options), Actions());
  EXPECT_TRUE(runner.ok()) << runner.message();
  if (!runner.ok()) return nullptr;
  Status s = (*runner)->Start();
  EXPECT_TRUE(s.ok()) << s.message();
  return std::move(runner).value();
}

std::vector<std::string> RunnerTest::RequestMany(const std::string& action,
                                                 const std::vector<Json>& parameters) {
  std::vector<std::string> ids;
  for (const auto& params : parameters) {
    store::Execution e;
    e.id = UuidV4();
    e.action = action;
    e.parameters = params;
    e.trace_id = e.id;
    e.requested_at = store::NowMs();
    auto created = store_->CreateExecution(e);
    EXPECT_TRUE(created.ok() && *created);
    Json request = {{"id", e.id},
                    {"action", action},
                    {"parameters", params},
                    {"trace_id", e.id},
                    {"requested_at", e.requested_at}};
    Status s = producer_->Produce(bus::Topic(config_, bus::kExecutions), e.id, request.dump());
    EXPECT_TRUE(s.ok()) << s.message();
    ids.push_back(e.id);
  }
  Status flushed = producer_->Flush(std::chrono::seconds(30));
  EXPECT_TRUE(flushed.ok()) << flushed.message();
  return ids;
}

std::string RunnerTest::Request(const std::string& action, const Json& parameters) {
  return RequestMany(action, {parameters}).front();
}

void RunnerTest::ProduceRaw(const std::string& key, const std::string& value) {
  Status s = producer_->Produce(bus::Topic(config_, bus::kExecutions), key, value);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(producer_->Flush(std::chrono::seconds(30)).ok());
}

store::Execution RunnerTest::Get(const std::string& id) {
  auto e = store_->GetExecution(id);
  EXPECT_TRUE(e.ok() && e->has_value()) << id;
  return e.ok() && e->has_value() ? **e : store::Execution{};
}

bool RunnerTest::WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

store::Execution RunnerTest::WaitFinal(const std::string& id, std::chrono::milliseconds timeout) {
  store::Execution last;
  bool done = WaitFor(
      [&] {
        last = Get(id);
        return store::IsFinal(last.status);
      },
      timeout);
  EXPECT_TRUE(done) << "execution " << id << " still " << store::ToString(last.status);
  return last;
}

bool RunnerTest::WaitStatus(const std::string& id, store::ExecStatus status,
                            std::chrono::milliseconds timeout) {
  return WaitFor([&] { return Get(id).status == status; }, timeout);
}

std::string RunnerTest::Output(const std::string& id, const std::string& stream) {
  std::string out;
  int64_t after = 0;
  for (;;) {
    auto chunks = store_->ReadOutput(id, after, 1000);
    if (!chunks.ok() || chunks->empty()) break;
    for (const auto& c : *chunks) {
      if (c.stream == stream) out += c.data;
      after = c.seq;
    }
  }
  return out;
}

std::vector<Json> RunnerTest::Events(const std::string& id, size_t expect,
                                     std::chrono::milliseconds timeout) {
  std::vector<Json> events;
  auto tailer = bus::Tailer::Create(config_, bus::Topic(config_, bus::kExecutionEvents), true);
  EXPECT_TRUE(tailer.ok()) << tailer.message();
  if (!tailer.ok()) return events;
  auto until = std::chrono::steady_clock::now() + timeout;
  while (events.size() < expect && std::chrono::steady_clock::now() < until) {
    auto m = (*tailer)->Next(std::chrono::milliseconds(200));
    if (!m.ok() || !m->has_value()) continue;
    if ((*m)->key == id) events.push_back(Json::parse((*m)->value));
  }
  return events;
}

}  // namespace gale::runner::test
