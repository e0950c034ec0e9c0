#include "bench/e2e/options.h"

#include <cstdio>

#include "bench/machine.h"

namespace gale::bench {

std::string BusName(const Options& o) {
  return o.brokers.empty() ? "embedded bus (librdkafka mock cluster inside the node)"
                           : "Kafka at " + o.brokers;
}

namespace {

// The server part of a MongoDB URL, without credentials: "mongodb://u:p@h:1/db" -> "h:1".
std::string MongoHosts(const std::string& url) {
  size_t from = url.find("://");
  from = from == std::string::npos ? 0 : from + 3;
  const size_t at = url.find('@', from);
  const size_t end = url.find_first_of("/?", from);
  if (at != std::string::npos && (end == std::string::npos || at < end)) from = at + 1;
  return url.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

}  // namespace

std::string StoreName(const Options& o) {
  return o.store.empty() ? "SQLite" : "MongoDB at " + MongoHosts(o.store);
}

std::string Setup(const Options& o) {
  return std::string(o.brokers.empty() ? "embedded bus" : "Kafka") + ", " +
         (o.store.empty() ? "SQLite" : "MongoDB");
}

void Header(const Options& o, const std::string& title) {
  std::printf("\n### %s\n\nmachine: %s; bus: %s; store: %s\n\n", title.c_str(), Machine().c_str(),
              BusName(o).c_str(), StoreName(o).c_str());
}

}  // namespace gale::bench
