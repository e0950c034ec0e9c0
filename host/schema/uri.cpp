#include "host/schema/uri.h"

#include <optional>

#include "host/common/hex.h"

namespace gale::schema::detail {

namespace {

struct Uri {
  std::optional<std::string> scheme, authority, query, fragment;
  std::string path;
};

Uri Parse(std::string_view s) {
  Uri u;
  if (auto hash = s.find('#'); hash != std::string_view::npos) {
    u.fragment = std::string(s.substr(hash + 1));
    s = s.substr(0, hash);
  }
  if (auto q = s.find('?'); q != std::string_view::npos) {
    u.query = std::string(s.substr(q + 1));
    s = s.substr(0, q);
  }
  // A scheme is letters/digits/+-. before the first ':' that comes before any '/'.
  auto colon = s.find(':');
  if (colon != std::string_view::npos && colon > 0 && s.substr(0, colon).find('/') == s.npos) {
    u.scheme = std::string(s.substr(0, colon));
    s = s.substr(colon + 1);
  }
  if (s.substr(0, 2) == "//") {
    s = s.substr(2);
    auto slash = s.find('/');
    u.authority = std::string(s.substr(0, slash));
    s = slash == std::string_view::npos ? std::string_view() : s.substr(slash);
  }
  u.path = std::string(s);
  return u;
}

std::string Compose(const Uri& u) {
  std::string out;
  if (u.scheme) out += *u.scheme + ":";
  if (u.authority) out += "//" + *u.authority;
  out += u.path;
  if (u.query) out += "?" + *u.query;
  if (u.fragment) out += "#" + *u.fragment;
  return out;
}

// RFC 3986 5.2.4.
std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.substr(0, 3) == "../") {
      in.remove_prefix(3);
    } else if (in.substr(0, 2) == "./") {
      in.remove_prefix(2);
    } else if (in.substr(0, 3) == "/./") {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.substr(0, 4) == "/../" || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      auto last = out.rfind('/');
      out.resize(last == std::string::npos ? 0 : last);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      auto next = in.find('/', in[0] == '/' ? 1 : 0);
      if (next == std::string_view::npos) next = in.size();
      out += in.substr(0, next);
      in.remove_prefix(next);
    }
  }
  return out;
}

}  // namespace

std::string ResolveUri(std::string_view base_text, std::string_view ref_text) {
  if (base_text.empty()) return std::string(ref_text);
  Uri base = Parse(base_text);
  Uri ref = Parse(ref_text);
  Uri t;
  if (ref.scheme) {
    t = ref;
    t.path = RemoveDotSegments(ref.path);
  } else {
    if (ref.authority) {
      t.authority = ref.authority;
      t.path = RemoveDotSegments(ref.path);
      t.query = ref.query;
    } else {
      if (ref.path.empty()) {
        t.path = base.path;
        t.query = ref.query ? ref.query : base.query;
      } else {
        if (ref.path[0] == '/') {
          t.path = RemoveDotSegments(ref.path);
        } else {
          // Merge (5.2.3): the base path up to its last '/', then the reference.
          std::string merged;
          if (base.authority && base.path.empty()) {
            merged = "/" + ref.path;
          } else {
            auto slash = base.path.rfind('/');
            merged = (slash == std::string::npos ? "" : base.path.substr(0, slash + 1)) + ref.path;
          }
          t.path = RemoveDotSegments(merged);
        }
        t.query = ref.query;
      }
      t.authority = base.authority;
    }
    t.scheme = base.scheme;
  }
  t.fragment = ref.fragment;
  return Compose(t);
}

void SplitFragment(std::string_view uri, std::string* document, std::string* fragment) {
  auto hash = uri.find('#');
  *document = std::string(uri.substr(0, hash));
  fragment->clear();
  if (hash == std::string_view::npos) return;
  std::string_view raw = uri.substr(hash + 1);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size()) {
      int hi = HexDigitValue(raw[i + 1]), lo = HexDigitValue(raw[i + 2]);
      if (hi >= 0 && lo >= 0) {
        *fragment += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    *fragment += raw[i];
  }
}

std::string StripEmptyFragment(std::string uri) {
  if (!uri.empty() && uri.back() == '#') uri.pop_back();
  return uri;
}

}  // namespace gale::schema::detail
