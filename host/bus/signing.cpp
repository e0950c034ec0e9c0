// Bus message signatures: an HMAC-SHA256 header on every message Gale produces, checked by
// every consumer. Without it, any client that can reach the brokers could fire triggers or
// request executions (issue 16). What a signature covers: the topic, so a message cannot be
// replayed onto another topic; the key, so an id cannot be changed; and the value.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include "host/bus/internal.h"
#include "host/common/hex.h"
#include "host/common/hmac.h"
#include "host/common/log_limit.h"

namespace gale::bus {
namespace {

constexpr std::string_view kVersion = "v1=";

struct Rejections {
  std::mutex mu;
  std::map<std::pair<std::string, std::string>, uint64_t> counts;  // (topic, reason) -> count
  LogLimiter logged;  // one line per source (topic and partition) a minute
};

Rejections& TheRejections() {
  static Rejections* r = new Rejections();  // never destroyed: consumers may outlive statics
  return *r;
}

void Reject(const Message& m, const char* reason) {
  Rejections& r = TheRejections();
  const std::string source = m.topic + "[" + std::to_string(m.partition) + "]";
  {
    std::lock_guard lock(r.mu);
    r.counts[{m.topic, reason}]++;
  }
  const auto held = r.logged.Allow(source);
  if (!held) return;
  spdlog::warn(
      "bus: dropped {} message(s) on {} ({}; latest at offset {}): only messages signed with "
      "this deployment's bus key are accepted (bus.signing_key_file); next report in a minute",
      *held + 1, source, reason, m.offset);
}

}  // namespace

std::vector<RejectedMessages> RejectedMessageCounts() {
  Rejections& r = TheRejections();
  std::lock_guard lock(r.mu);
  std::vector<RejectedMessages> out;
  for (const auto& [which, count] : r.counts) out.push_back({which.first, which.second, count});
  return out;
}

namespace internal {

std::string Signature(std::string_view signing_key, std::string_view topic, std::string_view key,
                      std::string_view value) {
  std::string covered;
  covered.reserve(topic.size() + key.size() + value.size() + 24);
  covered.append(topic).push_back('\0');
  covered.append(std::to_string(key.size())).push_back('\0');
  covered.append(key).append(value);
  return std::string(kVersion) + HexEncode(HmacSha256(signing_key, covered));
}

void CheckSignature(std::string_view signing_key, const rd_kafka_message_t* rkm, Message* m) {
  if (signing_key.empty()) return;  // this client was given no key: nothing is checked
  rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  std::optional<std::string_view> header;
  if (rd_kafka_message_headers(rkm, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(headers, kSignatureHeader, &value, &size) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      value != nullptr) {
    header = std::string_view(static_cast<const char*>(value), size);
  }
  CheckSignatureHeader(signing_key, header, m);
}

void CheckSignatureHeader(std::string_view signing_key, std::optional<std::string_view> header,
                          Message* m) {
  if (signing_key.empty()) return;
  if (!header) {
    m->authentic = false;
    Reject(*m, "unsigned");
    return;
  }
  const std::string expected = Signature(signing_key, m->topic, m->key, m->value);
  if (!ConstantTimeEquals(expected, *header)) {
    m->authentic = false;
    Reject(*m, "bad signature");
  }
}

}  // namespace internal
}  // namespace gale::bus
