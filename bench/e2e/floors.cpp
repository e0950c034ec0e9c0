#include "bench/e2e/floors.h"

#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "bench/e2e/bench_node.h"
#include "bench/e2e/deployment.h"
#include "bench/timing.h"
#include "host/bus/bus.h"
#include "host/common/uuid.h"
#include "sandbox/process.h"

extern char** environ;

namespace gale::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

long long WallNanos() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace

Stats Summarize(const std::vector<double>& v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  s.p50 = Percentile(v, 0.5);
  s.p99 = Percentile(v, 0.99);
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

Stats BusHop(const Options& o, int rate, int secs) {
  std::unique_ptr<bus::EmbeddedBroker> embedded;
  bus::BusConfig config;
  config.topic_prefix = "gale-bench-floor-" + UuidV4().substr(0, 8) + ".";
  config.properties["producer.linger.ms"] = "0";
  std::string topic;
  if (o.brokers.empty()) {
    auto b = bus::EmbeddedBroker::Start();
    if (!b.ok()) Fail(b.message());
    embedded = std::move(b).value();
    config.brokers = embedded->bootstrap();
    config.embedded = true;
    topic = config.topic_prefix + "floor";
    if (Status s = embedded->CreateTopic(topic, 1); !s.ok()) Fail(s.message());
  } else {
    config.brokers = o.brokers;
    config.partitions = 1;
    if (Status s = bus::EnsureTopics(config, nullptr, 1); !s.ok()) Fail(s.message());
    topic = bus::Topic(config, bus::kTriggers);
  }
  auto producer = bus::Producer::Create(config);
  if (!producer.ok()) Fail(producer.message());
  bus::Consumer::Options co;
  co.group_id = config.topic_prefix + "floor";
  co.topics = {topic};
  auto consumer = bus::Consumer::Create(config, co);
  if (!consumer.ok()) Fail(consumer.message());

  // Warm up until a message makes the whole trip (the group has joined and fetches).
  bool warm = false;
  for (int i = 0; i < 300 && !warm; ++i) {
    (void)(*producer)->Produce(topic, "", "warm");
    auto m = (*consumer)->Poll(milliseconds(100));
    warm = m.ok() && m->has_value();
  }
  if (!warm) Fail("bus hop: no message came back from " + config.brokers);
  while (true) {  // drain the other warm-up messages
    auto m = (*consumer)->Poll(milliseconds(300));
    if (!m.ok() || !m->has_value()) break;
  }

  const int64_t total = static_cast<int64_t>(rate) * secs;
  std::vector<double> ms;
  ms.reserve(total);
  std::thread reader([&] {
    const auto give_up = std::chrono::steady_clock::now() + seconds(secs + 30);
    while (static_cast<int64_t>(ms.size()) < total && std::chrono::steady_clock::now() < give_up) {
      auto m = (*consumer)->Poll(milliseconds(100));
      if (!m.ok() || !m->has_value() || (*m)->value == "warm") continue;
      const auto sent =
          std::chrono::steady_clock::time_point(std::chrono::nanoseconds(std::stoll((*m)->value)));
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent)
              .count());
    }
  });
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < total; ++i) {
    std::this_thread::sleep_until(start + std::chrono::nanoseconds(i * 1000000000LL / rate));
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    (void)(*producer)->Produce(
        topic, "",
        std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
  }
  reader.join();
  return Summarize(ms);
}

double SpawnRate(const std::vector<const char*>& argv, int threads, int count, bool use_fork) {
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      char* const* args = const_cast<char* const*>(argv.data());
      while (next.fetch_add(1) < count) {
        pid_t pid = -1;
        if (use_fork) {
          pid = fork();
          if (pid == 0) {
            execv(argv[0], args);
            _exit(127);
          }
        } else if (posix_spawn(&pid, argv[0], nullptr, nullptr, args, environ) != 0) {
          continue;
        }
        waitpid(pid, nullptr, 0);
      }
    });
  }
  for (auto& t : pool) t.join();
  return count / std::chrono::duration<double>(Clock::now() - start).count();
}

Stats SandboxSpawn(const Options& o, int count) {
  // The stamp program in a directory the action user can reach (a checkout may not be).
  auto dir = MakeTempDir();
  if (!dir.ok()) Fail(dir.message());
  chmod(dir->c_str(), 0755);
  const std::string stamp = *dir + "/stamp";
  std::error_code ec;
  fs::copy_file(fs::path(o.bench_pack) / "actions" / "stamp", stamp, ec);
  if (ec) Fail("cannot copy the stamp program to " + stamp + ": " + ec.message());
  chmod(stamp.c_str(), 0755);

  sandbox::Settings settings;  // what a node gives every execution without a `sandbox:` section
  if (geteuid() == 0 && getpwnam("gale-action") != nullptr) settings.user = "gale-action";
  boost::asio::io_context io;
  std::vector<double> ms;
  size_t failed = 0;
  std::string why;
  for (int i = -10; i < count; ++i) {  // the first 10 warm up
    std::string out;
    sandbox::Outcome outcome;
    const long long t0 = WallNanos();
    sandbox::Process::Spawn(
        io, sandbox::Command{{stamp}, {}}, settings,
        [&out](sandbox::Stream s, std::string_view chunk) {
          if (s == sandbox::Stream::kStdout) out.append(chunk);
        },
        [&outcome](const sandbox::Outcome& done) { outcome = done; });
    io.restart();
    io.run();
    if (!outcome.Succeeded() || out.empty()) {
      ++failed;
      if (why.empty()) why = outcome.Describe() + ", output '" + out + "'";
      continue;
    }
    if (i >= 0) ms.push_back(static_cast<double>(std::stoll(out) - t0) / 1e6);
  }
  fs::remove_all(*dir, ec);
  if (ms.empty()) Fail("sandboxed spawn of the stamp program never succeeded: " + why);
  return Summarize(ms);
}

}  // namespace gale::bench
