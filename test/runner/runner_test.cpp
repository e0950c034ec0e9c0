// The runner role end to end: requests on the bus, claims and results in the store, output
// chunks, execution events; every runner type; cancel, timeout, leases, backpressure.
#include <signal.h>
#include <sys/stat.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "host/store/secret_parameters.h"
#include "runner_fixture.h"

namespace gale::runner::test {
namespace {

using store::ExecStatus;
using namespace std::chrono_literals;

TEST_P(RunnerTest, ShellCommandSucceedsWithOutputStoredAndEventsPublished) {
  auto runner = StartRunner();
  const std::string id =
      Request("core.local", {{"cmd", "echo out; echo err >&2; exit 0"}, {"timeout", 30}});
  auto e = WaitFinal(id);
  EXPECT_EQ(e.status, ExecStatus::kSucceeded) << e.result.dump();
  EXPECT_EQ(e.node, "node-a");
  EXPECT_EQ(e.attempt, 1);
  EXPECT_EQ(e.result["stdout"], "out\n");
  EXPECT_EQ(e.result["stderr"], "err\n");
  EXPECT_EQ(e.result["return_code"], 0);
  EXPECT_EQ(e.result["succeeded"], true);
  EXPECT_EQ(e.result["sandbox"]["outcome"], "exited");
  EXPECT_GT(e.started_at, 0);
  EXPECT_GE(e.finished_at, e.started_at);
  EXPECT_EQ(Output(id, "stdout"), "out\n");
  EXPECT_EQ(Output(id, "stderr"), "err\n");
  auto events = Events(id, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["status"], "running");
  EXPECT_EQ(events[1]["status"], "succeeded");
  EXPECT_EQ(events[1]["node"], "node-a");
  EXPECT_TRUE(bus::ValidateDocument(bus::kExecutionEventSchema, events[1]).ok());
}

TEST_P(RunnerTest, NonZeroExitFailsWithTheReturnCode) {
  auto runner = StartRunner();
  auto e = WaitFinal(Request("runnertest.shell", {{"cmd", "echo no; exit 3"}}));
  EXPECT_EQ(e.status, ExecStatus::kFailed);
  EXPECT_EQ(e.result["return_code"], 3);
  EXPECT_EQ(e.result["failed"], true);
  EXPECT_EQ(e.result["stdout"], "no\n");
}

TEST_P(RunnerTest, ShellCommandGetsCwdEnvAndStackStormVariables) {
  auto runner = StartRunner();
  const std::string id = Request(
      "runnertest.shell",
      {{"cmd", "pwd; echo $GREETING; echo $ST2_ACTION_PACK_NAME; echo $ST2_ACTION_EXECUTION_ID"},
       {"cwd", dir().string()},
       {"env", {{"GREETING", "hi"}}}});
  auto e = WaitFinal(id);
  ASSERT_EQ(e.status, ExecStatus::kSucceeded) << e.result.dump();
  EXPECT_EQ(e.result["stdout"], dir().string() + "\nhi\nrunnertest\n" + id + "\n");
}

TEST_P(RunnerTest, ScriptGetsNamedAndPositionalArgumentsAsStackStormPassesThem) {
  auto runner = StartRunner();
  const std::string id = Request("runnertest.script", {{"first", "one two"},
                                                       {"second", 2},
                                                       {"name", "x"},
                                                       {"flag", true},
                                                       {"off", false},
                                                       {"empty", ""},
                                                       {"token", "s3cret"}});
  auto e = WaitFinal(id);
  ASSERT_EQ(e.status, ExecStatus::kSucceeded) << e.result.dump();
  // The secret `token` is in the environment only, never in argv (visible to any local user).
  EXPECT_EQ(e.result["stdout"],
            "arg:--flag\narg:--name=x\narg:one two\narg:2\n"
            "env:name=x\nenv:token=s3cret\nenv:pack=runnertest\nenv:id=" +
                id + "\n");
}

TEST_P(RunnerTest, NotExecutableAndVanishedScriptsFailClearly) {
  // A private copy of the pack, whose script disappears after the pack was loaded.
  const auto packs = dir() / "packs";
  std::filesystem::create_directories(packs);
  std::filesystem::copy(FixturePacks() + "/runnertest", packs / "runnertest",
                        std::filesystem::copy_options::recursive);
  std::ofstream(packs / "runnertest/actions/vanishing.yaml")
      << "---\nname: vanishing\nrunner_type: local-shell-script\nentry_point: vanishing.sh\n";
  std::ofstream(packs / "runnertest/actions/vanishing.sh") << "#!/bin/sh\n";
  packs_paths_ = {packs.string(), ShippedPacks()};
  auto runner = StartRunner();
  std::filesystem::remove(packs / "runnertest/actions/vanishing.sh");

  auto noexec = WaitFinal(Request("runnertest.noexec", Json::object()));
  EXPECT_EQ(noexec.status, ExecStatus::kFailed);
  const std::string why = noexec.result.value("error", "");
  EXPECT_NE(why.find("not started: exec"), std::string::npos) << why;
  EXPECT_NE(why.find("Permission denied"), std::string::npos) << why;
  auto missing = WaitFinal(Request("runnertest.vanishing", Json::object()));
  EXPECT_EQ(missing.status, ExecStatus::kFailed);
  EXPECT_EQ(missing.result["error"],
            "runnertest.vanishing: script actions/vanishing.sh: No such file or directory");
}

TEST_P(RunnerTest, NativeActionRunsInAGaleExecChildWithItsPackConfig) {
  auto runner = StartRunner();
  auto ok = WaitFinal(Request("runnertest.native_ok", {{"who", "tests"}}));
  ASSERT_EQ(ok.status, ExecStatus::kSucceeded) << ok.result.dump();
  EXPECT_EQ(ok.result["greeting"], "hello from the pack config");
  EXPECT_EQ(ok.result["who"], "tests");
  // What the action printed went to stderr, not into the result document.
  EXPECT_NE(ok.result["stderr"].get<std::string>().find("printed by the action"),
            std::string::npos);
  EXPECT_NE(ok.result["stderr"].get<std::string>().find("[info] runnertest.native_ok: greeting"),
            std::string::npos);
  auto fail = WaitFinal(Request("runnertest.native_fail", Json::object()));
  EXPECT_EQ(fail.status, ExecStatus::kFailed);
  EXPECT_EQ(fail.result["error"], "refused on purpose");
}

TEST_P(RunnerTest, NoopSucceedsWithoutAProcess) {
  auto runner = StartRunner();
  auto e = WaitFinal(Request("core.noop", Json::object()));
  EXPECT_EQ(e.status, ExecStatus::kSucceeded);
  EXPECT_FALSE(e.result.contains("sandbox"));
}

TEST_P(RunnerTest, UnknownActionAndBadParametersFailBeforeAnythingRuns) {
  auto runner = StartRunner();
  auto unknown = WaitFinal(Request("nosuch.action", Json::object()));
  EXPECT_EQ(unknown.status, ExecStatus::kFailed);
  EXPECT_EQ(unknown.result["error"], "action 'nosuch.action' is not installed on node node-a");
  auto bad = WaitFinal(Request("runnertest.shell", {{"cmd", 42}}));
  EXPECT_EQ(bad.status, ExecStatus::kFailed);
  EXPECT_EQ(bad.result["error"], "runnertest.shell: parameter 'cmd' must be a string");
}

TEST_P(RunnerTest, MalformedRequestsAndUnknownExecutionsAreSkipped) {
  auto runner = StartRunner();
  ProduceRaw("x", "not json");
  ProduceRaw("y", R"({"id": "y"})");
  ProduceRaw("z", R"({"id": "z", "action": "core.noop", "parameters": {}, "trace_id": "t",
                     "requested_at": 1})");
  auto e = WaitFinal(Request("core.noop", Json::object()));
  EXPECT_EQ(e.status, ExecStatus::kSucceeded);
  EXPECT_TRUE(WaitFor([&] { return runner->stats().malformed == 2; }, 10s));
  // "z" may sit on another partition than the request, and be read after it.
  EXPECT_TRUE(WaitFor([&] { return runner->stats().skipped >= 1; }, 10s));
}

// Issue 16: the runner runs what the store record says. The record keeps a secret sealed (what
// the rules engine and the API write); the message only names the execution, and whatever
// else it carries is ignored.
TEST_P(RunnerTest, TheRecordNotTheMessageSaysWhatRunsAndSecretsComeSealed) {
  auto runner = StartRunner();
  const store::KeyCipher cipher = Cipher();
  store::Execution e;
  e.id = "secret-exec";
  e.action = "runnertest.script";
  e.trace_id = "t";
  e.requested_at = store::NowMs();
  ASSERT_TRUE(store::SealSecretParameters(&cipher, {"token"}, {{"token", "s3cret"}}, &e).ok());
  ASSERT_TRUE(store_->CreateExecution(e).ok());
  Json request = {{"id", e.id},
                  {"action", "runnertest.shell"},
                  {"parameters", {{"token", "from-the-message"}, {"cmd", "touch /tmp/pwned"}}},
                  {"trace_id", "t"},
                  {"requested_at", e.requested_at}};
  ProduceRaw(e.id, request.dump());
  auto done = WaitFinal(e.id);
  ASSERT_EQ(done.status, ExecStatus::kSucceeded) << done.result.dump();
  EXPECT_EQ(done.parameters["token"], "********");
  const std::string out = done.result["stdout"].get<std::string>();
  EXPECT_NE(out.find("env:token=s3cret"), std::string::npos) << out;
  EXPECT_EQ(out.find("from-the-message"), std::string::npos) << out;

  // A sealed value that does not open (another execution's) fails the execution, saying why.
  store::Execution moved = e;
  moved.id = "moved-secret";
  moved.status = ExecStatus::kRequested;
  moved.log.clear();
  ASSERT_TRUE(store_->CreateExecution(moved).ok());
  ProduceRaw(moved.id, Json({{"id", moved.id},
                             {"action", moved.action},
                             {"parameters", Json::object()},
                             {"trace_id", "t"},
                             {"requested_at", moved.requested_at}})
                           .dump());
  auto refused = WaitFinal(moved.id);
  EXPECT_EQ(refused.status, ExecStatus::kFailed);
  EXPECT_NE(refused.result.dump().find("secret parameter 'token'"), std::string::npos)
      << refused.result.dump();
}

TEST_P(RunnerTest, TimeoutParameterEndsTheExecutionAsTimeout) {
  auto runner = StartRunner();
  auto e = WaitFinal(Request("runnertest.shell", {{"cmd", "sleep 30"}, {"timeout", 1}}));
  EXPECT_EQ(e.status, ExecStatus::kTimeout);
  EXPECT_EQ(e.result["error"].get<std::string>().rfind("timed out after ", 0), 0u)
      << e.result.dump();
  EXPECT_GE(e.result["sandbox"]["wall_ms"].get<int64_t>(), 1000);
}

TEST_P(RunnerTest, CancelKillsTheWholeProcessGroup) {
  auto runner = StartRunner();
  const std::string pidfile = (dir() / "child.pid").string();
  // The child's command line names the pid file: it is how the test finds it from outside the
  // execution's PID namespace.
  const std::string id =
      Request("runnertest.shell",
              {{"cmd", "sh -c 'sleep 60; :' " + pidfile + " & echo $! > " + pidfile + "; wait"}});
  ASSERT_TRUE(WaitFor([&] { return std::ifstream(pidfile).good(); }, 30s));
  ASSERT_TRUE(WaitStatus(id, ExecStatus::kRunning));
  ASSERT_TRUE(WaitFor([&] { return AnyProcessWith(pidfile); }));
  store::Transition t{id, {ExecStatus::kRunning}, ExecStatus::kCanceling, store::NowMs()};
  ASSERT_TRUE(*store_->TransitionExecution(t));
  auto e = WaitFinal(id, 20s);
  EXPECT_EQ(e.status, ExecStatus::kCanceled) << e.result.dump();
  EXPECT_TRUE(WaitFor([&] { return !AnyProcessWith(pidfile); }, 10s))
      << "sleep survived the cancel";
}

TEST_P(RunnerTest, LeaseIsRenewedWhileTheExecutionRuns) {
  auto options = Options();
  options.lease = std::chrono::milliseconds(900);
  auto runner = StartRunner(options);
  auto e = WaitFinal(Request("runnertest.shell", {{"cmd", "sleep 3; echo done"}}));
  EXPECT_EQ(e.status, ExecStatus::kSucceeded) << "lease not renewed: " << e.result.dump();
  EXPECT_EQ(runner->stats().abandoned, 0u);
}

TEST_P(RunnerTest, FullSlotsPauseTheConsumerAndNothingUnclaimedIsCommitted) {
  auto options = Options();
  options.max_concurrency = 2;
  options.commit_every = 1;
  auto runner = StartRunner(options);
  std::vector<Json> params(10, Json{{"cmd", "sleep 0.4"}});
  auto ids = RequestMany("runnertest.shell", params);
  // Sample while they run: committed offsets never exceed the executions claimed.
  bool over_committed = false;
  std::string sample;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto group = bus::DescribeGroup(config_, bus::Group(config_, bus::kRunnersGroup),
                                        {bus::Topic(config_, bus::kExecutions)}, 5s);
        int64_t committed = 0;
        if (group.ok()) {
          for (const auto& p : group->partitions) committed += std::max<int64_t>(p.committed, 0);
        }
        size_t claimed = 0, final = 0;
        for (const auto& id : ids) {
          auto s = Get(id).status;
          claimed += s != ExecStatus::kRequested;
          final += store::IsFinal(s);
        }
        if (committed > static_cast<int64_t>(claimed)) {
          over_committed = true;
          sample =
              std::to_string(committed) + " committed, " + std::to_string(claimed) + " claimed";
        }
        return final == ids.size();
      },
      60s));
  EXPECT_FALSE(over_committed) << sample;
  for (const auto& id : ids) EXPECT_EQ(Get(id).status, ExecStatus::kSucceeded);
  EXPECT_LE(runner->stats().peak_running, 2u);
  EXPECT_GE(runner->stats().pauses, 1u);
}

// A minimal HTTP(S) server on loopback: answers each connection with `response` after `delay`;
// with `tls`, speaks TLS with that certificate and key (PEM files).
struct TlsFiles {
  std::string cert, key;
};
class TinyServer {
 public:
  TinyServer(std::string response, std::chrono::milliseconds delay = 0ms,
             std::optional<TlsFiles> tls = std::nullopt)
      : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}),
        response_(std::move(response)),
        delay_(delay) {
    if (tls) {
      ssl_.emplace(boost::asio::ssl::context::tls_server);
      ssl_->use_certificate_chain_file(tls->cert);
      ssl_->use_private_key_file(tls->key, boost::asio::ssl::context::pem);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyServer() {
    // A blocking accept() is not woken by close() from another thread: connect to wake it.
    stop_ = true;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket waker(io);
    boost::system::error_code ec;
    waker.connect(acceptor_.local_endpoint(), ec);
    waker.close(ec);
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return std::string(ssl_ ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }
  std::string last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

 private:
  template <class Stream>
  void Answer(Stream& stream) {
    boost::system::error_code ec;
    boost::asio::streambuf buf;
    boost::asio::read_until(stream, buf, "\r\n\r\n", ec);
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_request_.assign(boost::asio::buffers_begin(buf.data()),
                           boost::asio::buffers_end(buf.data()));
    }
    std::this_thread::sleep_for(delay_);
    boost::asio::write(stream, boost::asio::buffer(response_), ec);
  }
  void Serve() {
    while (!stop_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      if (!ssl_) {
        Answer(socket);
        continue;
      }
      boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> tls(socket, *ssl_);
      tls.handshake(boost::asio::ssl::stream_base::server, ec);
      if (!ec) Answer(tls);
    }
  }
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::optional<boost::asio::ssl::context> ssl_;
  std::string response_;
  std::chrono::milliseconds delay_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::string last_request_;
};

TEST_P(RunnerTest, HttpRequestRecordsStatusHeadersAndParsedJsonBody) {
  TinyServer server(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
      "Connection: close\r\n\r\n{\"a\": [1]}\n");
  auto runner = StartRunner();
  auto e = WaitFinal(Request("core.http", {{"url", server.Url("/hook?x=1")},
                                           {"method", "POST"},
                                           {"headers", {{"X-Test", "yes"}}},
                                           {"body", "payload"}}));
  ASSERT_EQ(e.status, ExecStatus::kSucceeded) << e.result.dump();
  EXPECT_EQ(e.result["status_code"], 200);
  EXPECT_EQ(e.result["parsed"], true);
  EXPECT_EQ(e.result["body"], Json::parse(R"({"a": [1]})"));
  EXPECT_EQ(e.result["headers"]["Content-Type"], "application/json");
  const std::string req = server.last_request();
  EXPECT_EQ(req.rfind("POST /hook?x=1 HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("X-Test: yes"), std::string::npos) << req;
}

TEST_P(RunnerTest, HttpErrorStatusRefusedConnectionAndTimeout) {
  TinyServer not_found(
      "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope");
  TinyServer slow("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5s);
  auto runner = StartRunner();
  auto e404 = WaitFinal(Request("core.http", {{"url", not_found.Url("/")}}));
  EXPECT_EQ(e404.status, ExecStatus::kFailed);
  EXPECT_EQ(e404.result["status_code"], 404);
  EXPECT_EQ(e404.result["body"], "nope");
  auto refused = WaitFinal(Request("core.http", {{"url", "http://127.0.0.1:1/"}}));
  EXPECT_EQ(refused.status, ExecStatus::kFailed);
  EXPECT_NE(refused.result["error"].get<std::string>().find("refused"), std::string::npos)
      << refused.result.dump();
  auto late = WaitFinal(Request("core.http", {{"url", slow.Url("/")}, {"timeout", 1}}));
  EXPECT_EQ(late.status, ExecStatus::kTimeout) << late.result.dump();
  auto bad = WaitFinal(Request("core.http", {{"url", "ftp://x/"}}));
  EXPECT_EQ(bad.status, ExecStatus::kFailed);
  EXPECT_EQ(bad.result["error"], "url must start with http:// or https://");
}

TEST_P(RunnerTest, HttpsVerifiesTheCertificateUnlessToldNotTo) {
  // A self-signed certificate made for this test (openssl is installed by scripts/setup).
  const std::string cert = (dir() / "cert.pem").string(), key = (dir() / "key.pem").string();
  const std::string make =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-keyout " +
      key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  TinyServer server("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure", 0ms,
                    TlsFiles{cert, key});
  auto runner = StartRunner();
  auto unverified =
      WaitFinal(Request("core.http", {{"url", server.Url("/")}, {"verify_ssl_cert", false}}));
  EXPECT_EQ(unverified.status, ExecStatus::kSucceeded) << unverified.result.dump();
  EXPECT_EQ(unverified.result["body"], "secure");
  // Nobody vouches for a self-signed certificate: the default refuses it.
  auto verified = WaitFinal(Request("core.http", {{"url", server.Url("/")}}));
  EXPECT_EQ(verified.status, ExecStatus::kFailed);
  EXPECT_NE(verified.result.value("error", "").find("certificate verify failed"), std::string::npos)
      << verified.result.dump();
}

TEST_P(RunnerTest, StopLetsRunningExecutionsFinishWithinTheGrace) {
  auto options = Options();
  options.shutdown_grace = 10s;
  auto runner = StartRunner(options);
  const std::string id = Request("runnertest.shell", {{"cmd", "sleep 1; echo finished"}});
  ASSERT_TRUE(WaitStatus(id, ExecStatus::kRunning));
  runner->Stop();
  auto e = Get(id);
  EXPECT_EQ(e.status, ExecStatus::kSucceeded) << e.result.dump();
}

TEST_P(RunnerTest, StopKillsWhatOutlivesTheGraceAndRecordsItAbandoned) {
  auto options = Options();
  options.shutdown_grace = 500ms;
  auto runner = StartRunner(options);
  const std::string id = Request("runnertest.shell", {{"cmd", "sleep 60"}});
  ASSERT_TRUE(WaitStatus(id, ExecStatus::kRunning));
  runner->Stop();
  auto e = Get(id);
  EXPECT_EQ(e.status, ExecStatus::kAbandoned);
  EXPECT_EQ(e.result["error"], "the runner on node node-a stopped while the execution was running");
}

INSTANTIATE_TEST_SUITE_P(Bus, RunnerTest, ::testing::Values(Target::kEmbedded, Target::kKafka),
                         TargetName);

}  // namespace
}  // namespace gale::runner::test
