// Small owning BSON builder and reader over libbson, for the MongoDB store.
#pragma once

#include <bson/bson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gale::store::mongo {

// An owned bson_t built with chained appends: Doc().Str("a", "x").Int("n", 1).
class Doc {
 public:
  Doc() : b_(bson_new()) {}
  Doc(Doc&& other) noexcept : b_(std::exchange(other.b_, nullptr)) {}
  Doc(const Doc&) = delete;
  Doc& operator=(const Doc&) = delete;
  Doc& operator=(Doc&& other) noexcept {
    if (this != &other) {
      if (b_ != nullptr) bson_destroy(b_);
      b_ = std::exchange(other.b_, nullptr);
    }
    return *this;
  }
  ~Doc() {
    if (b_ != nullptr) bson_destroy(b_);
  }

  Doc& Str(const char* key, std::string_view value) {
    bson_append_utf8(b_, key, -1, value.data(), static_cast<int>(value.size()));
    return *this;
  }
  Doc& Int(const char* key, int64_t value) {
    bson_append_int64(b_, key, -1, value);
    return *this;
  }
  Doc& Int32(const char* key, int32_t value) {
    bson_append_int32(b_, key, -1, value);
    return *this;
  }
  // Times are BSON dates (milliseconds since the epoch).
  Doc& Time(const char* key, int64_t ms) {
    bson_append_date_time(b_, key, -1, ms);
    return *this;
  }
  Doc& Bool(const char* key, bool value) {
    bson_append_bool(b_, key, -1, value);
    return *this;
  }
  Doc& Bin(const char* key, std::string_view bytes) {
    bson_append_binary(b_, key, -1, BSON_SUBTYPE_BINARY,
                       reinterpret_cast<const uint8_t*>(bytes.data()),
                       static_cast<uint32_t>(bytes.size()));
    return *this;
  }
  Doc& Sub(const char* key, const Doc& child) {
    bson_append_document(b_, key, -1, child.get());
    return *this;
  }
  // `items` must have keys "0", "1", ... (see Array()).
  Doc& Arr(const char* key, const Doc& items) {
    bson_append_array(b_, key, -1, items.get());
    return *this;
  }

  const bson_t* get() const { return b_; }
  bson_t* get() { return b_; }

 private:
  bson_t* b_;
};

// A reply out-parameter for libmongoc, which always (re)initializes it itself: it must be a
// plain bson_t, not one from bson_new() (whose heap struct would then leak).
class Reply {
 public:
  Reply() { bson_init(&b_); }
  ~Reply() { bson_destroy(&b_); }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  bson_t* get() { return &b_; }

 private:
  bson_t b_;
};

// An array of strings.
Doc StrArray(const std::vector<std::string>& items);
// An array of documents.
Doc DocArray(const std::vector<Doc>& items);

// Reads fields of a document that it does not own; missing or mistyped fields read as empty.
class View {
 public:
  explicit View(const bson_t* doc) : doc_(doc) {}
  std::string Str(const char* key) const;  // utf8 (or binary) field
  std::string Bin(const char* key) const;  // binary (or utf8) field
  int64_t Int(const char* key) const;      // int32, int64, double or date field
  bool Bool(const char* key) const;
  bool Has(const char* key) const;
  std::vector<std::string> StrArray(const char* key) const;
  // Calls fn(View) for each document in an array field.
  template <class F>
  void ForEachDoc(const char* key, F fn) const {
    bson_iter_t it, child;
    if (!bson_iter_init_find(&it, doc_, key) || !BSON_ITER_HOLDS_ARRAY(&it)) return;
    if (!bson_iter_recurse(&it, &child)) return;
    while (bson_iter_next(&child)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&child)) continue;
      uint32_t len = 0;
      const uint8_t* data = nullptr;
      bson_iter_document(&child, &len, &data);
      bson_t sub;
      if (bson_init_static(&sub, data, len)) fn(View(&sub));
    }
  }

 private:
  const bson_t* doc_;
};

}  // namespace gale::store::mongo
