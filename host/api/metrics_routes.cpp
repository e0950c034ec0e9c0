// GET /metrics (Prometheus text format) and GET /healthz.
//
// Cluster-wide figures come from the store and the bus (the same on every node): triggers
// dispatched and rejected (every sensor host's counters), executions by status, sensor restarts,
// consumer lag of gale.rules and gale.runners. This node's gauges come from its roles (runner
// slots busy).
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "host/api/api_state.h"
#include "host/bus/messages.h"

namespace gale::api {
namespace {

std::string Escape(const std::string& label) {
  std::string out;
  for (char c : label) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Exposition {
 public:
  void Family(const std::string& name, const std::string& type, const std::string& help) {
    text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const std::map<std::string, std::string>& labels,
              double value) {
    text_ += name;
    if (!labels.empty()) {
      text_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        text_ += (first ? "" : ",") + k + "=\"" + Escape(v) + "\"";
        first = false;
      }
      text_ += '}';
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, " %.17g\n", value);
    text_ += buf;
  }
  std::string text() const { return text_; }

 private:
  std::string text_;
};

HttpResponse Metrics(State& state) {
  Exposition m;
  store::Store& st = state.store();

  int64_t dispatched = 0, rejected = 0, undelivered = 0;
  auto counters = st.ListKeys(store::KeyScope::kGale, "", "sensor-counters:", store::NowMs());
  if (counters.ok()) {
    for (const auto& kv : *counters) {
      Json j = Json::parse(kv.value, nullptr, false);
      if (!j.is_object()) continue;
      dispatched += j.value("dispatched", int64_t{0});
      rejected += j.value("rejected", int64_t{0});
      undelivered += j.value("undelivered", int64_t{0});
    }
  }
  m.Family("gale_triggers_dispatched_total", "counter",
           "Trigger instances sensors dispatched (all nodes, reported every 5 s).");
  m.Sample("gale_triggers_dispatched_total", {}, static_cast<double>(dispatched));
  m.Family("gale_triggers_rejected_total", "counter",
           "Trigger instances sensors dispatched that failed their payload schema.");
  m.Sample("gale_triggers_rejected_total", {}, static_cast<double>(rejected));
  m.Family("gale_triggers_undelivered_total", "counter",
           "Trigger instances the bus did not acknowledge.");
  m.Sample("gale_triggers_undelivered_total", {}, static_cast<double>(undelivered));

  // Every topic this node reads, at 0 until something is dropped, so that an alert can be set.
  std::map<std::pair<std::string, std::string>, uint64_t> dropped;
  for (std::string_view topic : {bus::kTriggers, bus::kExecutions, bus::kExecutionEvents}) {
    for (const char* reason : {"unsigned", "bad signature"}) {
      dropped[{bus::Topic(state.options.bus, topic), reason}] = 0;
    }
  }
  for (const bus::RejectedMessages& r : bus::RejectedMessageCounts()) {
    dropped[{r.topic, r.reason}] = r.count;
  }
  m.Family("gale_bus_dead_letters_total", "counter",
           "Messages this node's roles gave up on and sent to the dead-letters topic, by the "
           "topic they came from.");
  std::map<std::string, uint64_t> letters;
  for (std::string_view topic : {bus::kTriggers, bus::kExecutions}) {
    letters[bus::Topic(state.options.bus, topic)] = 0;
  }
  for (const auto& [topic, count] : bus::DeadLetterCounts()) letters[topic] = count;
  for (const auto& [topic, count] : letters) {
    m.Sample("gale_bus_dead_letters_total", {{"topic", topic}}, static_cast<double>(count));
  }
  m.Family("gale_bus_messages_dropped_total", "counter",
           "Bus messages this node dropped because they were not signed with the deployment's "
           "bus key (unsigned, or bad signature).");
  for (const auto& [which, count] : dropped) {
    m.Sample("gale_bus_messages_dropped_total", {{"topic", which.first}, {"reason", which.second}},
             static_cast<double>(count));
  }

  m.Family("gale_executions", "gauge", "Executions in the store by status (all nodes).");
  for (auto status :
       {store::ExecStatus::kRequested, store::ExecStatus::kScheduled, store::ExecStatus::kDelayed,
        store::ExecStatus::kRunning, store::ExecStatus::kSucceeded, store::ExecStatus::kFailed,
        store::ExecStatus::kTimeout, store::ExecStatus::kAbandoned, store::ExecStatus::kCanceling,
        store::ExecStatus::kCanceled, store::ExecStatus::kPausing, store::ExecStatus::kPaused,
        store::ExecStatus::kResuming}) {
    store::ExecutionQuery q;
    q.statuses = {status};
    auto n = st.CountExecutions(q);
    if (!n.ok()) return StoreError(n.status());
    m.Sample("gale_executions", {{"status", std::string(store::ToString(status))}},
             static_cast<double>(*n));
  }

  auto sensors = st.ListSensorStatus("");
  m.Family("gale_sensor_restarts_total", "counter", "Restarts of each sensor's host.");
  if (sensors.ok()) {
    for (const auto& s : *sensors) {
      m.Sample("gale_sensor_restarts_total", {{"sensor", s.ref}, {"node", s.node}}, s.restarts);
    }
  }

  m.Family("gale_consumer_lag", "gauge",
           "Messages not yet consumed by Gale's consumer groups, per topic.");
  for (const auto& g : bus::GaleGroups(state.options.bus)) {
    auto info = bus::DescribeGroup(state.options.bus, g.group, g.topics, std::chrono::seconds(5));
    if (!info.ok()) {
      ClientLogLimit().Log(spdlog::level::debug, "metrics group " + g.group,
                           "api: metrics: group {}: {}", g.group, info.message());
      continue;
    }
    std::map<std::string, int64_t> lag;
    for (const auto& p : info->partitions) lag[p.topic] += p.lag;
    for (const auto& [topic, n] : lag) {
      m.Sample("gale_consumer_lag", {{"group", g.group}, {"topic", topic}}, static_cast<double>(n));
    }
  }

  if (state.hooks.bus_retention) {
    const bus::RetentionGuard::Sample sample = state.hooks.bus_retention();
    m.Family("gale_bus_embedded_retention_used_ratio", "gauge",
             "How much of an embedded bus partition's retention its unconsumed messages use; at 1 "
             "the broker drops them. Producers are held from 0.8 until below 0.7.");
    std::set<std::string> topics;
    for (const auto& p : sample.partitions) {
      topics.insert(p.topic);
      m.Sample("gale_bus_embedded_retention_used_ratio",
               {{"topic", p.topic}, {"partition", std::to_string(p.partition)}}, p.used_ratio);
    }
    m.Family("gale_bus_embedded_producers_held", "gauge",
             "1 while the embedded bus holds back the producers of a topic.");
    for (const auto& topic : topics) {
      m.Sample("gale_bus_embedded_producers_held", {{"topic", topic}},
               sample.held.contains(topic) ? 1.0 : 0.0);
    }
  }
  if (state.hooks.node_metrics) {
    const Json node = state.hooks.node_metrics();
    for (const auto& [name, value] : node.items()) {
      if (!value.is_number()) continue;
      const std::string metric = "gale_" + name;
      m.Family(metric, "gauge", "This node's " + name + ".");
      m.Sample(metric, {{"node", state.options.node_name}}, value.get<double>());
    }
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = m.text();
  return r;
}

}  // namespace

void AddMetricsRoutes(Router& router, const std::shared_ptr<State>& state) {
  router.Add("GET", "/metrics", [state](HttpRequest&) { return Metrics(*state); });
  router.Add("GET", "/healthz", [state](HttpRequest&) {
    // The store answering is what every route needs.
    auto n = state->store().GetNode(state->options.node_name);
    if (!n.ok()) return HttpResponse::Error(503, "store: " + n.message());
    return HttpResponse::Json(200, {{"status", "ok"}, {"node", state->options.node_name}});
  });
}

}  // namespace gale::api
