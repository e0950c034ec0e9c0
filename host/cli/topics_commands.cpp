#include "host/cli/topics_commands.h"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "host/bus/bus.h"
#include "host/cli/api_client.h"
#include "host/cli/output.h"
#include "host/config/config.h"

namespace gale::cli {
namespace {

struct BusFlags {
  std::string brokers;
  config::Overrides overrides;
  bool json = false;
  bool partitions = false;  // list, groups: a row per partition instead of per topic
};

// --brokers, else GALE_KAFKA_BROKERS or gale.yaml's bus.brokers, else the embedded bus of the
// node running in $GALE_HOME (its bus.addr).
bus::BusConfig ResolveBus(const std::string& verb, const BusFlags& flags) {
  auto config = config::Load(flags.overrides);
  if (!config.ok()) Fail(verb, config.message(), 2);
  bus::BusConfig bus;
  bus.topic_prefix = config->topic_prefix;
  bus.client_id = "gale-cli";
  bus.properties = config->bus_properties;
  bus.brokers = !flags.brokers.empty() ? flags.brokers : config->brokers;
  if (bus.brokers.empty()) {
    const auto addr = std::filesystem::path(config->home) / "bus.addr";
    std::ifstream in(addr);
    if (!(in >> bus.brokers)) {
      Fail(verb, "no bus configured and no embedded bus running (" + addr.string() +
                     " not found; is 'gale up' running? or pass --brokers)");
    }
    bus.embedded = true;
  }
  return bus;
}

void BusOptions(CLI::App* cmd, BusFlags& f) {
  cmd->add_option("--brokers", f.brokers, "Kafka bootstrap servers (default: the node's bus)");
  cmd->add_option("--home", f.overrides.home, "GALE_HOME of the node (for its bus.addr)");
  cmd->add_option("--config", f.overrides.config_file, "gale.yaml naming the bus");
  cmd->add_flag("--json", f.json, "Print JSON");
}

constexpr auto kTimeout = std::chrono::seconds(10);

// "-" for an offset the broker did not report (Watermarks leaves -1 rather than fail).
std::string OffsetCell(int64_t offset) {
  return offset < 0 ? "-" : std::to_string(offset);
}

// A partition's earliest and latest offsets, or a topic's: its partitions' added up, so that
// LATEST - EARLIEST is the messages retained on either (the min and max of offsets counted on
// different partitions would not say that). -1 when an offset is unknown.
struct Offsets {
  int64_t earliest = 0, latest = 0;
  int64_t messages() const { return earliest < 0 || latest < 0 ? -1 : latest - earliest; }
};
Offsets SumOffsets(const bus::TopicInfo& t) {
  Offsets sum;
  for (const auto& p : t.partitions) {
    sum.earliest = sum.earliest < 0 || p.low < 0 ? -1 : sum.earliest + p.low;
    sum.latest = sum.latest < 0 || p.high < 0 ? -1 : sum.latest + p.high;
  }
  return sum;
}

void List(const BusFlags& f) {
  auto bus = ResolveBus("topics list", f);
  auto topics = bus::ListTopics(bus, kTimeout);
  if (!topics.ok()) Fail("topics list", topics.message());
  if (f.json) {
    Json out = Json::array();
    for (const auto& t : *topics) {
      Json parts = Json::array();
      for (const auto& p : t.partitions) {
        parts.push_back(
            {{"partition", p.id}, {"leader", p.leader}, {"earliest", p.low}, {"latest", p.high}});
      }
      out.push_back({{"topic", t.name}, {"partitions", parts}});
    }
    std::cout << out.dump(2) << '\n';
    return;
  }
  if (f.partitions) {
    Table table({"TOPIC", "PARTITION", "LEADER", "EARLIEST", "LATEST", "MESSAGES"});
    for (const auto& t : *topics) {
      for (const auto& p : t.partitions) {
        table.AddRow({t.name, std::to_string(p.id), std::to_string(p.leader), OffsetCell(p.low),
                      OffsetCell(p.high), OffsetCell(Offsets{p.low, p.high}.messages())});
      }
    }
    table.Print(std::cout);
    return;
  }
  Table table({"TOPIC", "PARTITIONS", "MESSAGES", "EARLIEST", "LATEST"});
  for (const auto& t : *topics) {
    const Offsets sum = SumOffsets(t);
    table.AddRow({t.name, std::to_string(t.partitions.size()), OffsetCell(sum.messages()),
                  OffsetCell(sum.earliest), OffsetCell(sum.latest)});
  }
  table.Print(std::cout);
}

// One row of the default `topics groups` table: a group's partitions of one topic.
struct TopicLag {
  std::string topic;
  int partitions = 0;
  int64_t lag = 0;
};

void Groups(const BusFlags& f) {
  auto bus = ResolveBus("topics groups", f);
  // Gale's groups always; on a real cluster every other group too (with every topic it may read).
  auto topics = bus::ListTopics(bus, kTimeout);
  if (!topics.ok()) Fail("topics groups", topics.message());
  std::vector<std::string> all;
  for (const auto& t : *topics) all.push_back(t.name);
  // Gale's groups on the topics of this prefix that exist (none before a node created them).
  std::vector<bus::GroupTopics> groups;
  for (auto g : bus::GaleGroups(bus)) {
    std::erase_if(g.topics, [&](const std::string& t) {
      return std::find(all.begin(), all.end(), t) == all.end();
    });
    if (!g.topics.empty()) groups.push_back(std::move(g));
  }
  const size_t gale_groups = groups.size();
  if (!bus.embedded) {
    auto names = bus::ListGroups(bus, kTimeout);
    if (names.ok()) {
      for (const auto& n : *names) {
        bool known = false;
        for (const auto& g : groups) known = known || g.group == n;
        if (!known) groups.push_back({n, all});
      }
    }
  }
  Json out = Json::array();
  Table detail({"GROUP", "STATE", "MEMBERS", "TOPIC", "PARTITION", "COMMITTED", "LATEST", "LAG"});
  Table summary({"GROUP", "STATE", "MEMBERS", "TOPIC", "PARTITIONS", "LAG"});
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    // The topics listed above, with their watermarks: one OffsetFetch per group.
    std::vector<bus::TopicInfo> listed;
    for (const auto& t : *topics) {
      if (std::find(g.topics.begin(), g.topics.end(), t.name) != g.topics.end()) {
        listed.push_back(t);
      }
    }
    auto info = bus::DescribeGroup(bus, g.group, listed, kTimeout);
    if (!info.ok()) Fail("topics groups", g.group + ": " + info.message());
    const bool ours = i < gale_groups;
    const std::string state = info->state.empty() ? "-" : info->state;
    const std::string members = info->members < 0 ? "-" : std::to_string(info->members);
    Json parts = Json::array();
    int64_t total = 0;
    std::vector<TopicLag> by_topic;
    for (const auto& p : info->partitions) {
      if (!ours && p.committed < 0) continue;  // a topic this group never read
      total += p.lag;
      auto row = std::find_if(by_topic.begin(), by_topic.end(),
                              [&](const TopicLag& t) { return t.topic == p.topic; });
      if (row == by_topic.end()) row = by_topic.insert(row, TopicLag{p.topic});
      ++row->partitions;
      row->lag += p.lag;
      parts.push_back({{"topic", p.topic},
                       {"partition", p.partition},
                       {"committed", p.committed},
                       {"latest", p.high},
                       {"lag", p.lag}});
      detail.AddRow({g.group, state, members, p.topic, std::to_string(p.partition),
                     OffsetCell(p.committed), OffsetCell(p.high), std::to_string(p.lag)});
    }
    for (const auto& t : by_topic) {
      summary.AddRow(
          {g.group, state, members, t.topic, std::to_string(t.partitions), std::to_string(t.lag)});
    }
    out.push_back({{"group", g.group},
                   {"state", info->state},
                   {"members", info->members},
                   {"lag", total},
                   {"partitions", parts}});
  }
  if (f.json) {
    std::cout << out.dump(2) << '\n';
  } else {
    (f.partitions ? detail : summary).Print(std::cout);
  }
}

volatile std::sig_atomic_t interrupted = 0;

struct TailArgs {
  std::string topic;
  bool from_beginning = false, follow = false;
  int64_t max = 0;
};

void Tail(const BusFlags& f, const TailArgs& a) {
  auto bus = ResolveBus("topics tail", f);
  // "triggers" means "<prefix>triggers" when no topic has the short name.
  std::string topic = a.topic;
  auto topics = bus::ListTopics(bus, kTimeout);
  if (topics.ok()) {
    bool exact = false, prefixed = false;
    for (const auto& t : *topics) {
      exact = exact || t.name == topic;
      prefixed = prefixed || t.name == bus.topic_prefix + topic;
    }
    if (!exact && prefixed) topic = bus.topic_prefix + topic;
  }
  auto tailer = bus::Tailer::Create(bus, topic, a.from_beginning, kTimeout);
  if (!tailer.ok()) Fail("topics tail", tailer.message());
  std::signal(SIGINT, [](int) { interrupted = 1; });
  int64_t seen = 0;
  // Without --follow: stop once nothing more arrives for a moment (the end of the topic).
  const auto idle_limit = std::chrono::milliseconds(a.from_beginning ? 2000 : 5000);
  auto idle_since = std::chrono::steady_clock::now();
  while (!interrupted && (a.max <= 0 || seen < a.max)) {
    auto next = (*tailer)->Next(std::chrono::milliseconds(200));
    if (!next.ok()) Fail("topics tail", next.message());
    if (!next->has_value()) {
      if (!a.follow && std::chrono::steady_clock::now() - idle_since > idle_limit) break;
      continue;
    }
    idle_since = std::chrono::steady_clock::now();
    const bus::Message& m = **next;
    ++seen;
    Json value = Json::parse(m.value, nullptr, false);
    if (f.json) {
      Json line = {{"topic", m.topic},
                   {"partition", m.partition},
                   {"offset", m.offset},
                   {"key", m.key},
                   {"timestamp", m.timestamp_ms}};
      line["value"] = value.is_discarded() ? Json(m.value) : value;
      std::cout << line.dump() << '\n' << std::flush;
    } else {
      std::cout << Bold(m.topic + " partition " + std::to_string(m.partition) + " offset " +
                        std::to_string(m.offset) + " key " + (m.key.empty() ? "-" : m.key))
                << '\n'
                << (value.is_discarded() ? m.value : value.dump(2)) << '\n'
                << std::flush;
    }
  }
}

}  // namespace

void AddTopicsCommands(CLI::App& app) {
  auto f = std::make_shared<BusFlags>();
  auto* topics = app.add_subcommand("topics", "Inspect the bus: topics, consumer groups, messages");
  topics->require_subcommand(1);
  auto* list = topics->add_subcommand(
      "list", "Topics: partitions, messages retained, earliest and latest offsets");
  BusOptions(list, *f);
  list->add_flag("--partitions", f->partitions,
                 "A row per partition (PARTITION, LEADER, EARLIEST, LATEST, MESSAGES)");
  // CLI11 prints a footer as it is: the line breaks are ours.
  list->footer(
      "Columns, a row per topic:\n"
      "  PARTITIONS  how many partitions the topic has\n"
      "  MESSAGES    the messages retained: LATEST - EARLIEST\n"
      "  EARLIEST    its partitions' earliest retained offsets, added up (on Gale's topics:\n"
      "              how many messages retention has dropped)\n"
      "  LATEST      its partitions' next offsets, added up (on Gale's topics: how many\n"
      "              messages were ever written)\n"
      "\"-\" marks an offset the broker did not report. --json always lists every partition.");
  list->callback([f] { List(*f); });
  auto* groups = topics->add_subcommand("groups", "Consumer groups: state, members, lag per topic");
  BusOptions(groups, *f);
  groups->add_flag("--partitions", f->partitions,
                   "A row per partition (PARTITION, COMMITTED, LATEST, LAG)");
  groups->footer(
      "Columns, a row per group and topic:\n"
      "  STATE, MEMBERS  from the broker; \"-\" on the embedded bus, which cannot tell\n"
      "  PARTITIONS      the topic's partitions the row adds up (for a group that is not\n"
      "                  Gale's, those it committed on)\n"
      "  LAG             the messages on them the group has not consumed yet, added up: on\n"
      "                  each, latest offset minus committed (minus earliest where the\n"
      "                  group committed nothing)\n"
      "--json always lists every partition.");
  groups->callback([f] { Groups(*f); });
  auto a = std::make_shared<TailArgs>();
  auto* tail = topics->add_subcommand(
      "tail", "Print a topic's messages (partition, offset, key, pretty JSON)");
  tail->add_option("TOPIC", a->topic, "Topic (gale.triggers, or just triggers)")->required();
  tail->add_flag("--from-beginning", a->from_beginning, "Start at the earliest retained message");
  tail->add_option("--max", a->max, "Stop after N messages")->check(CLI::PositiveNumber);
  tail->add_flag("--follow", a->follow, "Keep waiting for new messages (Ctrl-C ends)");
  BusOptions(tail, *f);
  tail->callback([f, a] { Tail(*f, *a); });
}

}  // namespace gale::cli
