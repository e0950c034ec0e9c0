#include "host/common/yaml_json.h"

#include "host/common/input_limits.h"
#include "host/common/json_pointer.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

namespace gale {
namespace {

bool AllOf(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool IsOctDigit(char c) {
  return c >= '0' && c <= '7';
}

std::string_view WithoutSign(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return s;
}

// [-+]?(0|[1-9][0-9]*)
bool IsInt(std::string_view s) {
  s = WithoutSign(s);
  return AllOf(s, IsDigit) && (s.size() == 1 || s[0] != '0');
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsFloat(std::string_view s) {
  s = WithoutSign(s);
  std::string_view mantissa = s.substr(0, s.find_first_of("eE"));
  if (mantissa.size() < s.size()) {
    std::string_view exponent = WithoutSign(s.substr(mantissa.size() + 1));
    if (!AllOf(exponent, IsDigit)) return false;
  }
  std::size_t dot = mantissa.find('.');
  if (dot == std::string_view::npos) return AllOf(mantissa, IsDigit);
  std::string_view whole = mantissa.substr(0, dot);
  std::string_view fraction = mantissa.substr(dot + 1);
  if (whole.empty()) return AllOf(fraction, IsDigit);
  return AllOf(whole, IsDigit) && (fraction.empty() || AllOf(fraction, IsDigit));
}

Json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    if (s == t) return true;
  }
  for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    if (s == f) return false;
  }
  try {
    if (IsInt(s)) return std::stoll(s);
    if (s.starts_with("0x") && AllOf(std::string_view(s).substr(2), IsHexDigit)) {
      return std::stoll(s.substr(2), nullptr, 16);
    }
    if (s.starts_with("0o") && AllOf(std::string_view(s).substr(2), IsOctDigit)) {
      return std::stoll(s.substr(2), nullptr, 8);
    }
    if (IsFloat(s)) return std::stod(s);
  } catch (const std::out_of_range&) {
    return s;  // too large for int64/double: keep the text rather than lose digits
  }
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") return 1e308 * 10;
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -1e308 * 10;
  return s;
}

// Converts yaml-cpp's node graph to JSON. An alias is a second reference to a node, so the
// conversion copies what it names: a few lines of nested aliases (a "billion laughs") would
// expand to gigabytes. The expansion is bounded like any document (limits.max_document_bytes
// for the scalars and keys it produces, and one node per two of those bytes), and so is the
// nesting (limits.max_depth; yaml-cpp's parser stops at 2000 by itself).
class Converter {
 public:
  Converter(const std::string& path, const InputLimits& limits) : path_(path), limits_(limits) {}

  Status Convert(const YAML::Node& node, const std::string& pointer, Json& out,
                 std::map<std::string, int>& lines, size_t depth = 0) {
    if (depth > limits_.max_depth) {
      return Status::Error(Where(node) + "nested deeper than " + std::to_string(limits_.max_depth) +
                           " levels (limits.max_depth)");
    }
    expanded_bytes_ += 2 + (node.IsScalar() ? node.Scalar().size() : 0);
    if (expanded_bytes_ > limits_.max_document_bytes) {
      return Status::Error(Where(node) + "the document expands to more than " +
                           std::to_string(limits_.max_document_bytes) +
                           " bytes (limits.max_document_bytes); are aliases nested?");
    }
    lines[pointer] = node.Mark().line + 1;
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out = nullptr;
        return Status::Ok();
      case YAML::NodeType::Scalar: {
        const std::string& tag = node.Tag();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") {
          out = node.Scalar();
        } else {
          out = PlainScalar(node.Scalar());
        }
        return Status::Ok();
      }
      case YAML::NodeType::Sequence: {
        out = Json::array();
        size_t i = 0;
        for (const auto& item : node) {
          Json value;
          GALE_TRY(Convert(item, pointer + "/" + std::to_string(i++), value, lines, depth + 1));
          out.push_back(std::move(value));
        }
        return Status::Ok();
      }
      case YAML::NodeType::Map: {
        out = Json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) {
            return Status::Error(Where(kv.first) + "mapping keys must be scalars");
          }
          const std::string key = kv.first.Scalar();
          if (out.contains(key)) {
            return Status::Error(Where(kv.first) + "duplicate key '" + key + "'");
          }
          Json value;
          std::string child = pointer + "/";
          AppendPointerToken(child, key);
          expanded_bytes_ += key.size();
          GALE_TRY(Convert(kv.second, child, value, lines, depth + 1));
          // A block value starts on the line after its key; errors read better at the key.
          lines[child] = kv.first.Mark().line + 1;
          out[key] = std::move(value);
        }
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

 private:
  std::string Where(const YAML::Node& node) const {
    return path_ + ":" + std::to_string(node.Mark().line + 1) + ": ";
  }
  const std::string& path_;
  const InputLimits& limits_;
  size_t expanded_bytes_ = 0;
};

}  // namespace

int YamlDocument::LineOf(const std::string& pointer) const {
  std::string p = pointer;
  while (true) {
    auto it = lines.find(p);
    if (it != lines.end()) return it->second;
    if (p.empty()) return 0;
    auto slash = p.rfind('/');
    p = slash == std::string::npos ? "" : p.substr(0, slash);
  }
}

Result<YamlDocument> ParseYaml(const std::string& text, const std::string& display_path) {
  YamlDocument doc;
  const InputLimits& limits = CurrentInputLimits();
  if (text.size() > limits.max_document_bytes) {
    return Status::Error(display_path + ":1: " + std::to_string(text.size()) +
                         " bytes is larger than " + std::to_string(limits.max_document_bytes) +
                         " (limits.max_document_bytes)");
  }
  try {
    YAML::Node root = YAML::Load(text);
    Converter converter(display_path, limits);
    GALE_TRY(converter.Convert(root, "", doc.json, doc.lines));
  } catch (const YAML::Exception& e) {
    return Status::Error(display_path + ":" + std::to_string(e.mark.line + 1) +
                         ": malformed YAML: " + e.msg);
  }
  return doc;
}

Result<YamlDocument> LoadYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseYaml(text.str(), path);
}

}  // namespace gale
