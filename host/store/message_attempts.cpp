#include "host/store/message_attempts.h"

#include <charconv>

namespace gale::store {

Result<int> MessageAttempts::Begin(const std::string& topic, int32_t partition,
                                   const std::string& key) {
  const KeyRef ref{"bus-attempts/" + group_ + "/" + topic + "/" + std::to_string(partition),
                   KeyScope::kGale, ""};
  const TimeMs now = NowMs();
  auto got = store_->GetKey(ref, now);
  if (!got.ok()) return got.status().WithContext("attempts of " + topic + " key " + key);
  // "<count> <key>": the count first, so that a key with spaces reads back whole.
  int count = 1;
  if (got->has_value()) {
    const std::string& value = (*got)->value;
    const size_t space = value.find(' ');
    int seen = 0;
    if (space != std::string::npos && value.compare(space + 1, std::string::npos, key) == 0 &&
        std::from_chars(value.data(), value.data() + space, seen).ec == std::errc()) {
      count = seen + 1;
    }
  }
  KeyValue kv;
  kv.name = ref.name;
  kv.scope = KeyScope::kGale;
  kv.value = std::to_string(count) + " " + key;
  if (Status s = store_->SetKey(kv, now); !s.ok()) {
    return s.WithContext("attempts of " + topic + " key " + key);
  }
  return count;
}

}  // namespace gale::store
