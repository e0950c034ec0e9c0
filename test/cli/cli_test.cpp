// The CLI end to end against a node started with embedded defaults: a webhook fires a rule, and
// every verb a user reaches for shows it (execution list/get/tail, run, key, rule, topics).
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "host/bus/bus.h"
#include "host/common/uuid.h"

#include "test/support/api_fixture.h"

namespace gale::testing {
namespace {

struct Ran {
  int code = -1;
  std::string out;
};

class CliTest : public ApiNodeTest {
 protected:
  // `gale ARGS` with the node's GALE_HOME; stderr joins stdout unless json_only.
  static Ran Gale(const std::string& args, bool json_only = false) {
    // The node runs on its embedded bus: the CI's real-service variables must not redirect
    // the CLI elsewhere (the real-cluster test passes its brokers in a config file).
    const std::string cmd =
        "env -u GALE_KAFKA_BROKERS -u GALE_MONGODB_URL GALE_HOME=" + node().home() +
        " NO_COLOR=1 " + std::string(GALE_BINARY_DIR) + "/bin/gale " + args +
        (json_only ? " 2>/dev/null" : " 2>&1");
    FILE* p = popen(cmd.c_str(), "r");
    Ran r;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return r;
  }
  static Json GaleJson(const std::string& args) {
    Ran r = Gale(args, true);
    EXPECT_EQ(r.code, 0) << args << ": " << r.out;
    return Json::parse(r.out, nullptr, false);
  }
};

TEST_F(CliTest, AWebhookRuleRunsAndEveryVerbShowsIt) {
  auto api = Api();
  Json body = {{"service", "web"}};
  ASSERT_EQ(api.Call("POST", "/v1/webhooks/deploy", &body)->status, 202);

  std::string id;
  ASSERT_TRUE(WaitFor(
      [&] {
        Json list = GaleJson("execution list --rule hooks.on_deploy --json");
        if (!list.is_array() || list.empty()) return false;
        id = list[0]["id"];
        return true;
      },
      std::chrono::seconds(30)))
      << node().Log();
  Ran tail = Gale("execution tail " + id);
  EXPECT_EQ(tail.code, 0) << tail.out;
  EXPECT_NE(tail.out.find("deploying web\ndone\n"), std::string::npos) << tail.out;
  EXPECT_NE(tail.out.find("succeeded"), std::string::npos) << tail.out;
  Ran get = Gale("execution get " + id);
  EXPECT_NE(get.out.find("status:   succeeded"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("hooks.on_deploy"), std::string::npos) << get.out;
  Ran table = Gale("execution list --limit 5");
  EXPECT_NE(table.out.find("ID  "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(id), std::string::npos) << table.out;

  // The trigger on the bus, and the rules group caught up with it.
  Json topics = GaleJson("topics list --json");
  int64_t triggers = 0;
  for (const auto& t : topics) {
    if (t["topic"] != node().topic_prefix() + "triggers") continue;
    for (const auto& p : t["partitions"]) triggers += p["latest"].get<int64_t>();
  }
  EXPECT_GE(triggers, 1) << topics.dump();
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& g : GaleJson("topics groups --json")) {
          if (g["group"] == node().topic_prefix() + "rules") return g["lag"] == 0;
        }
        return false;
      },
      std::chrono::seconds(30)));
  Ran tailed = Gale("topics tail triggers --from-beginning --max 1 --json", true);
  ASSERT_EQ(tailed.code, 0) << tailed.out;
  Json message = Json::parse(tailed.out, nullptr, false);
  ASSERT_TRUE(message.is_object()) << tailed.out;
  EXPECT_EQ(message["value"]["trigger"], "core.st2.webhook");
  EXPECT_EQ(message["value"]["payload"]["body"]["service"], "web");
  EXPECT_GE(message["partition"].get<int>(), 0);
}

TEST_F(CliTest, RunKeysAndRulesFromTheCommandLine) {
  Ran echo = Gale("run core.echo 'message=hello cli'");
  EXPECT_EQ(echo.code, 0) << echo.out;
  EXPECT_NE(echo.out.find("hello cli"), std::string::npos) << echo.out;
  Ran failing = Gale("run core.local 'cmd=exit 3'");
  EXPECT_EQ(failing.code, 1) << failing.out;
  EXPECT_NE(failing.out.find("\"return_code\": 3"), std::string::npos) << failing.out;
  Ran async = Gale("run core.noop --async", /*json_only=*/true);
  EXPECT_EQ(async.code, 0);
  EXPECT_EQ(async.out.size(), 37u) << "an id and a newline: " << async.out;
  Ran invalid = Gale("run core.local");
  EXPECT_EQ(invalid.code, 1);
  EXPECT_NE(invalid.out.find("gale run: parameters do not match action 'core.local'"),
            std::string::npos)
      << invalid.out;
  EXPECT_EQ(std::count(invalid.out.begin(), invalid.out.end(), '\n'), 1) << invalid.out;
  Ran typed = Gale("run core.local 'cmd=true' timeout=notanumber");
  EXPECT_EQ(typed.code, 1);
  EXPECT_NE(typed.out.find("timeout"), std::string::npos) << typed.out;

  EXPECT_EQ(Gale("key set api.token abc123 --encrypt").code, 0);
  Ran listed = Gale("key list");
  EXPECT_NE(listed.out.find("api.token"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("abc123"), std::string::npos) << listed.out;
  EXPECT_EQ(Gale("key get api.token --decrypt").out, "abc123\n");
  EXPECT_EQ(Gale("key delete api.token").code, 0);
  EXPECT_EQ(Gale("key get api.token").code, 1);

  EXPECT_EQ(Gale("rule disable hooks.on_deploy").code, 0);
  for (const auto& r : GaleJson("rule list --json")) {
    if (r["ref"] == "hooks.on_deploy") {
      EXPECT_EQ(r["enabled"], false);
    }
  }
  EXPECT_EQ(Gale("rule enable hooks.on_deploy").code, 0);
  EXPECT_EQ(Gale("rule enable hooks.nope").code, 1);
  EXPECT_NE(Gale("node list").out.find("test-node"), std::string::npos);
  Ran fired = Gale("trigger fire core.st2.webhook --payload '{\"headers\": {}, \"body\": 1}'");
  EXPECT_EQ(fired.code, 0) << fired.out;
  EXPECT_EQ(Gale("trigger fire core.st2.webhook --payload 'nope'").code, 1);
}

using Rows = std::vector<std::vector<std::string>>;

// The cells of each line of a table `gale` printed (none of the cells it prints has a space).
Rows TableRows(const std::string& out) {
  Rows rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    rows.emplace_back(std::istream_iterator<std::string>(words),
                      std::istream_iterator<std::string>());
  }
  return rows;
}

std::string Cell(int64_t n) {
  return n < 0 ? "-" : std::to_string(n);
}

// What `topics list` should print for `topics` (its --json): a row per topic adding up its
// partitions. Empty while an offset is still unknown (a partition just created).
Rows ExpectedTopicRows(const Json& topics) {
  Rows rows = {{"TOPIC", "PARTITIONS", "MESSAGES", "EARLIEST", "LATEST"}};
  for (const auto& t : topics) {
    int64_t earliest = 0, latest = 0;
    for (const auto& p : t["partitions"]) {
      if (p["earliest"] < 0 || p["latest"] < 0) return {};
      earliest += p["earliest"].get<int64_t>();
      latest += p["latest"].get<int64_t>();
    }
    rows.push_back({t["topic"].get<std::string>(), std::to_string(t["partitions"].size()),
                    std::to_string(latest - earliest), std::to_string(earliest),
                    std::to_string(latest)});
  }
  return rows;
}

// What `topics groups` should print for `groups` (its --json): a row per group and topic adding
// up the lag of its partitions.
Rows ExpectedGroupRows(const Json& groups) {
  Rows rows = {{"GROUP", "STATE", "MEMBERS", "TOPIC", "PARTITIONS", "LAG"}};
  for (const auto& g : groups) {
    const std::string state = g["state"] == "" ? "-" : g["state"].get<std::string>();
    const size_t first = rows.size();
    for (const auto& p : g["partitions"]) {
      auto row = std::find_if(rows.begin() + first, rows.end(),
                              [&](const auto& r) { return r[3] == p["topic"].get<std::string>(); });
      if (row == rows.end()) {
        rows.push_back({g["group"].get<std::string>(), state, Cell(g["members"].get<int64_t>()),
                        p["topic"].get<std::string>(), "0", "0"});
        row = rows.end() - 1;
      }
      (*row)[4] = std::to_string(std::stoll((*row)[4]) + 1);
      (*row)[5] = std::to_string(std::stoll((*row)[5]) + p["lag"].get<int64_t>());
    }
  }
  return rows;
}

std::string Dump(const Rows& rows) {
  std::string out;
  for (const auto& r : rows) {
    for (const auto& c : r) out += c + " ";
    out += "\n";
  }
  return out;
}

// A new user's `topics list` and `topics groups` show a row per topic (per group and topic) that
// adds up its partitions, 24 for most topics on the embedded bus; --partitions shows each one.
TEST_F(CliTest, TopicsShowARowPerTopicAndEachPartitionWhenAsked) {
  auto api = Api();
  Json body = {{"service", "rows"}};
  ASSERT_EQ(api.Call("POST", "/v1/webhooks/deploy", &body)->status, 202);
  const std::string triggers = node().topic_prefix() + "triggers";
  const std::string rules = node().topic_prefix() + "rules";
  // Messages on several partitions that stay unconsumed: on the sensor-owners topic, whose group
  // only divides partitions and never commits (so every message there is lag too).
  const std::string owners = node().topic_prefix() + "sensor-owners";
  bus::BusConfig config;
  std::ifstream(node().home() + "/bus.addr") >> config.brokers;
  config.embedded = true;
  auto producer = bus::Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.message();
  std::set<int32_t> lagging;
  for (int i = 0; i < 8; ++i) {
    auto sent = (*producer)->ProduceSync(owners, "key-" + std::to_string(i), "{}",
                                         std::chrono::seconds(10));
    ASSERT_TRUE(sent.ok()) << sent.message();
    lagging.insert(sent->partition);
  }
  ASSERT_GE(lagging.size(), 2u) << "the keys' partitions";

  // The table against --json read before and after it, retried while the node's own messages
  // move the offsets in between.
  Json topics;
  Rows table, expected;
  ASSERT_TRUE(WaitFor(
      [&] {
        topics = GaleJson("topics list --json");
        table = TableRows(Gale("topics list", true).out);
        expected = ExpectedTopicRows(topics);
        return topics == GaleJson("topics list --json") && table == expected;
      },
      std::chrono::seconds(30)))
      << "printed:\n"
      << Dump(table) << "expected:\n"
      << Dump(expected);
  int triggers_partitions = 0;
  std::string owners_partitions;
  for (const auto& row : table) {
    if (row[0] == owners) {
      owners_partitions = row[1];
      EXPECT_EQ(row[2], "8") << "the messages produced above";
    }
    if (row[0] != triggers) continue;
    triggers_partitions = std::stoi(row[1]);
    EXPECT_GE(std::stoll(row[2]), 1) << "the webhook's trigger";
  }
  EXPECT_GT(triggers_partitions, 1) << Dump(table);

  Rows detail = TableRows(Gale("topics list --partitions", true).out);
  ASSERT_FALSE(detail.empty());
  EXPECT_EQ(detail[0], (std::vector<std::string>{"TOPIC", "PARTITION", "LEADER", "EARLIEST",
                                                 "LATEST", "MESSAGES"}));
  size_t partitions = 0;
  for (const auto& t : topics) partitions += t["partitions"].size();
  EXPECT_EQ(detail.size(), 1 + partitions) << Dump(detail);
  std::set<std::string> ids;
  int64_t messages = 0;
  for (const auto& row : detail) {
    if (row.size() != 6 || row[0] != triggers) continue;
    ids.insert(row[1]);
    messages += std::stoll(row[5]);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(triggers_partitions)) << Dump(detail);
  EXPECT_TRUE(ids.count("0") && ids.count(std::to_string(triggers_partitions - 1)));
  EXPECT_GE(messages, 1);

  // The rules group caught up with the trigger: its row for the triggers topic covers all of
  // that topic's partitions with no lag. The sensor-owners group's row adds up the lag of the
  // partitions the messages above went to.
  Json groups;
  ASSERT_TRUE(WaitFor(
      [&] {
        groups = GaleJson("topics groups --json");
        table = TableRows(Gale("topics groups", true).out);
        expected = ExpectedGroupRows(groups);
        const std::vector<std::string> caught_up = {
            rules, "-", "-", triggers, std::to_string(triggers_partitions), "0"};
        const std::vector<std::string> owners_lag = {owners, "-", "-", owners, owners_partitions,
                                                     "8"};
        return groups == GaleJson("topics groups --json") && table == expected &&
               std::find(table.begin(), table.end(), caught_up) != table.end() &&
               std::find(table.begin(), table.end(), owners_lag) != table.end();
      },
      std::chrono::seconds(30)))
      << "printed:\n"
      << Dump(table) << "expected:\n"
      << Dump(expected);

  detail = TableRows(Gale("topics groups --partitions", true).out);
  ASSERT_FALSE(detail.empty());
  EXPECT_EQ(detail[0], (std::vector<std::string>{"GROUP", "STATE", "MEMBERS", "TOPIC", "PARTITION",
                                                 "COMMITTED", "LATEST", "LAG"}));
  partitions = 0;
  for (const auto& g : groups) partitions += g["partitions"].size();
  EXPECT_EQ(detail.size(), 1 + partitions) << Dump(detail);
  EXPECT_EQ(std::count_if(
                detail.begin(), detail.end(),
                [&](const auto& r) { return r.size() == 8 && r[0] == rules && r[3] == triggers; }),
            triggers_partitions)
      << Dump(detail);

  for (const char* verb : {"topics list", "topics groups"}) {
    Ran help = Gale(std::string(verb) + " --help");
    EXPECT_EQ(help.code, 0) << help.out;
    EXPECT_NE(help.out.find("--partitions"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("a row per"), std::string::npos) << help.out;
  }
}

// The same inspection against a real Kafka cluster (GALE_KAFKA_BROKERS), where consumer groups
// come from the Admin API with their state and members.
TEST_F(CliTest, TopicsInspectARealKafkaCluster) {
  const char* brokers = std::getenv("GALE_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    GTEST_SKIP() << "SKIPPED: GALE_KAFKA_BROKERS is not set (scripts/services up starts Kafka)";
  }
  // Gale's topics under a prefix of this test's own, as a node on that cluster would make them.
  bus::BusConfig config;
  config.brokers = brokers;
  config.topic_prefix = "gale-cli-" + UuidV4().substr(0, 8) + ".";
  config.partitions = 2;
  ASSERT_TRUE(bus::EnsureTopics(config, nullptr, 2).ok());
  auto producer = bus::Producer::Create(config);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)
                  ->ProduceSync(config.topic_prefix + "triggers", "k", "{\"real\": true}",
                                std::chrono::seconds(30))
                  .ok());
  TempDir dir;
  const std::string yaml = (dir.path() / "gale.yaml").string();
  std::ofstream(yaml) << "bus: {brokers: \"" << brokers << "\", topic_prefix: \""
                      << config.topic_prefix << "\"}\n";
  const std::string flags = " --config " + yaml;

  int64_t messages = -1;
  for (const auto& t : GaleJson("topics list --json" + flags)) {
    EXPECT_EQ(t["topic"].get<std::string>().rfind("__", 0), std::string::npos)
        << "internal topics are hidden";
    if (t["topic"] != config.topic_prefix + "triggers") continue;
    messages = 0;
    for (const auto& p : t["partitions"]) {
      messages += p["latest"].get<int64_t>() - p["earliest"].get<int64_t>();
    }
  }
  EXPECT_EQ(messages, 1);
  std::set<std::string> groups;
  for (const auto& g : GaleJson("topics groups --json" + flags)) groups.insert(g["group"]);
  EXPECT_TRUE(groups.count(config.topic_prefix + "rules"));
  EXPECT_TRUE(groups.count(config.topic_prefix + "runners"));
  // The default tables: the topic's one row adds up its 2 partitions; the rules group, which
  // committed nothing, lags by the 1 message on them.
  const Rows list = TableRows(Gale("topics list" + flags, true).out);
  const std::vector<std::string> topic_row = {config.topic_prefix + "triggers", "2", "1", "0", "1"};
  EXPECT_EQ(std::count(list.begin(), list.end(), topic_row), 1) << Dump(list);
  const Rows lags = TableRows(Gale("topics groups" + flags, true).out);
  std::vector<std::vector<std::string>> rules_rows;
  for (const auto& row : lags) {
    if (row.size() == 6 && row[0] == config.topic_prefix + "rules") rules_rows.push_back(row);
  }
  ASSERT_EQ(rules_rows.size(), 1u) << Dump(lags);
  EXPECT_EQ(rules_rows[0][3], config.topic_prefix + "triggers");
  EXPECT_EQ(rules_rows[0][4], "2");
  EXPECT_EQ(rules_rows[0][5], "1");
  Ran tail = Gale("topics tail triggers --from-beginning --max 1 --json" + flags, true);
  EXPECT_EQ(tail.code, 0);
  EXPECT_EQ(Json::parse(tail.out, nullptr, false)["value"]["real"], true) << tail.out;
}

// The command lines of `root` and all its descendants, NULs shown as spaces.
std::vector<std::string> CommandLinesOfTree(pid_t root) {
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, std::string> cmdline;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    parent[pid] = ppid;
    std::ifstream in(e.path() / "cmdline");
    std::string argv((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(argv.begin(), argv.end(), '\0', ' ');
    cmdline[pid] = argv;
  }
  std::vector<std::string> out;
  for (const auto& [pid, argv] : cmdline) {
    for (pid_t p = pid; p > 1; p = parent.count(p) ? parent[p] : 0) {
      if (p == root) {
        out.push_back(argv);
        break;
      }
    }
  }
  return out;
}

// A store password never shows: not in the log of a node that cannot reach its MongoDB (the
// driver's errors included), not on the command line of the node or anything it starts, not
// from the CLI verbs that open the store themselves, and `node list` carries no store URL.
TEST_F(CliTest, AStorePasswordNeverShows) {
  const std::string url = "mongodb://u:secret@127.0.0.1:1/x";
  NodeOptions options;
  options.store_url = url;
  options.node_name = "leaky-node";
  options.packs_paths = {packs_->str()};
  options.wait_ready = false;
  auto leaky = NodeProcess::Start(options);
  std::vector<std::string> argvs;
  const bool retried = WaitFor(
      [&] {
        for (auto& a : CommandLinesOfTree(leaky->pid())) argvs.push_back(a);
        return leaky->Log().find("unavailable (attempt 1)") != std::string::npos || !leaky->Alive();
      },
      std::chrono::seconds(60));
  const std::string log = leaky->Log();
  ::kill(-leaky->pid(), SIGKILL);  // SIGTERM waits for the store retries to give up
  WaitFor([&] { return !leaky->Alive(); }, std::chrono::seconds(10));
  ASSERT_TRUE(retried) << log;
  EXPECT_NE(log.find("mongodb://u:***@127.0.0.1:1/x"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret"), std::string::npos) << log;
  ASSERT_FALSE(argvs.empty());
  for (const auto& argv : argvs) EXPECT_EQ(argv.find("secret"), std::string::npos) << argv;

  // The CLI verbs that open the store themselves report the failure without the password.
  const std::string cmd = "env -u GALE_KAFKA_BROKERS GALE_MONGODB_URL='" + url +
                          "' GALE_HOME=" + leaky->home() + " NO_COLOR=1 " +
                          std::string(GALE_BINARY_DIR) + "/bin/gale apikey list 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_NE(pclose(p), 0) << out;
  EXPECT_NE(out.find("u:***@"), std::string::npos) << out;
  EXPECT_EQ(out.find("secret"), std::string::npos) << out;

  // A running node hands its store URL to none of its children (sensor hosts, runners).
  const auto running = CommandLinesOfTree(node().pid());
  ASSERT_FALSE(running.empty());
  for (const auto& argv : running) {
    EXPECT_EQ(argv.find(node().store_url().substr(9)), std::string::npos) << argv;
  }

  // What a node records about itself (`node list`) names no store.
  const std::string nodes = Gale("node list --json", true).out;
  EXPECT_NE(nodes.find("test-node"), std::string::npos) << nodes;
  EXPECT_EQ(nodes.find(node().store_url().substr(9)), std::string::npos) << nodes;
  EXPECT_EQ(nodes.find("secret"), std::string::npos) << nodes;
}

TEST_F(CliTest, EveryVerbHasHelpAndAMissingNodeIsOneLineWithAHint) {
  for (const char* verb :
       {"run", "execution", "execution tail", "key", "key set", "rule", "trigger fire",
        "pack reload", "node list", "apikey create", "topics", "topics tail", "up"}) {
    Ran help = Gale(std::string(verb) + " --help");
    EXPECT_EQ(help.code, 0) << verb << ": " << help.out;
    EXPECT_NE(help.out.find("Usage"), std::string::npos) << verb;
  }
  Ran down = Gale("--api http://127.0.0.1:1 execution list");
  EXPECT_EQ(down.code, 1);
  EXPECT_EQ(down.out,
            "gale execution list: cannot reach the Gale API at http://127.0.0.1:1: Connection "
            "refused (is 'gale up' running?)\n");
  Ran no_bus = Gale("topics list --home /nonexistent-gale-home");
  EXPECT_EQ(no_bus.code, 1);
  EXPECT_NE(no_bus.out.find("is 'gale up' running?"), std::string::npos) << no_bus.out;
}

}  // namespace
}  // namespace gale::testing
