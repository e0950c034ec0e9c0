#include "host/store/message_attempts.h"

#include <charconv>
#include <optional>
#include <string_view>

namespace gale::store {

Result<int> MessageAttempts::Begin(const std::string& topic, int32_t partition,
                                   const std::string& key, int64_t offset) {
  const KeyRef ref{"bus-attempts/" + group_ + "/" + topic + "/" + std::to_string(partition),
                   KeyScope::kGale, ""};
  const TimeMs now = NowMs();
  auto got = store_->GetKey(ref, now);
  if (!got.ok()) return got.status().WithContext("attempts of " + topic + " key " + key);
  // "<count> @<offset> <key>" (before: "<count> <key>"): the count first, the key last, so that
  // a key with spaces reads back whole.
  int count = 1;
  if (got->has_value()) {
    std::string_view rest = (*got)->value;
    int seen = 0;
    const size_t space = rest.find(' ');
    if (space != std::string_view::npos &&
        std::from_chars(rest.data(), rest.data() + space, seen).ec == std::errc()) {
      rest.remove_prefix(space + 1);
      std::optional<int64_t> at;  // absent in the older form
      if (rest.starts_with('@')) {
        const size_t end = rest.find(' ');
        int64_t o = 0;
        if (end != std::string_view::npos &&
            std::from_chars(rest.data() + 1, rest.data() + end, o).ec == std::errc()) {
          at = o;
          rest.remove_prefix(end + 1);
        }
      }
      // The same message again: its key, at the offset recorded or before it (a replay onto a
      // new embedded bus starts its offsets over). A later message with the same key is a new
      // request for the same thing (a delayed execution requested again), not a retry.
      if (rest == key && (!at || offset <= *at)) count = seen + 1;
    }
  }
  KeyValue kv;
  kv.name = ref.name;
  kv.scope = KeyScope::kGale;
  kv.value = std::to_string(count) + " @" + std::to_string(offset) + " " + key;
  if (Status s = store_->SetKey(kv, now); !s.ok()) {
    return s.WithContext("attempts of " + topic + " key " + key);
  }
  return count;
}

}  // namespace gale::store
