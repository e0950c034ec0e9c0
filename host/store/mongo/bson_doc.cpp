#include "host/store/mongo/bson_doc.h"

namespace gale::store::mongo {

Doc StrArray(const std::vector<std::string>& items) {
  Doc arr;
  for (size_t i = 0; i < items.size(); ++i) arr.Str(std::to_string(i).c_str(), items[i]);
  return arr;
}

Doc DocArray(const std::vector<Doc>& items) {
  Doc arr;
  for (size_t i = 0; i < items.size(); ++i) arr.Sub(std::to_string(i).c_str(), items[i]);
  return arr;
}

std::string View::Str(const char* key) const {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc_, key)) return std::string();
  if (BSON_ITER_HOLDS_UTF8(&it)) {
    uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    return std::string(s, len);
  }
  if (BSON_ITER_HOLDS_BINARY(&it)) return Bin(key);
  return std::string();
}

std::string View::Bin(const char* key) const {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc_, key)) return std::string();
  if (BSON_ITER_HOLDS_BINARY(&it)) {
    bson_subtype_t subtype;
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    bson_iter_binary(&it, &subtype, &len, &data);
    return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
  }
  if (BSON_ITER_HOLDS_UTF8(&it)) return Str(key);
  return std::string();
}

int64_t View::Int(const char* key) const {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc_, key)) return 0;
  switch (bson_iter_type(&it)) {
    case BSON_TYPE_INT32:
      return bson_iter_int32(&it);
    case BSON_TYPE_INT64:
      return bson_iter_int64(&it);
    case BSON_TYPE_DOUBLE:
      return static_cast<int64_t>(bson_iter_double(&it));
    case BSON_TYPE_DATE_TIME:
      return bson_iter_date_time(&it);
    default:
      return 0;
  }
}

bool View::Bool(const char* key) const {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc_, key)) return false;
  return bson_iter_as_bool(&it);
}

bool View::Has(const char* key) const {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc_, key);
}

std::vector<std::string> View::StrArray(const char* key) const {
  std::vector<std::string> out;
  bson_iter_t it, child;
  if (!bson_iter_init_find(&it, doc_, key) || !BSON_ITER_HOLDS_ARRAY(&it)) return out;
  if (!bson_iter_recurse(&it, &child)) return out;
  while (bson_iter_next(&child)) {
    if (!BSON_ITER_HOLDS_UTF8(&child)) continue;
    uint32_t len = 0;
    const char* s = bson_iter_utf8(&child, &len);
    out.emplace_back(s, len);
  }
  return out;
}

}  // namespace gale::store::mongo
