#include "host/common/yaml_json.h"

#include "host/common/input_limits.h"
#include "host/common/json_pointer.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace gale {
namespace {

Json PlainScalar(const std::string& s) {
  static const std::regex kInt(R"([-+]?(0|[1-9][0-9]*))");
  static const std::regex kHex(R"(0x[0-9a-fA-F]+)");
  static const std::regex kOct(R"(0o[0-7]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    if (s == t) return true;
  }
  for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    if (s == f) return false;
  }
  try {
    if (std::regex_match(s, kInt)) return std::stoll(s);
    if (std::regex_match(s, kHex)) return std::stoll(s.substr(2), nullptr, 16);
    if (std::regex_match(s, kOct)) return std::stoll(s.substr(2), nullptr, 8);
    if (std::regex_match(s, kFloat)) return std::stod(s);
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
          Status s = Convert(item, pointer + "/" + std::to_string(i++), value, lines, depth + 1);
          if (!s.ok()) return s;
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
          Status s = Convert(kv.second, child, value, lines, depth + 1);
          if (!s.ok()) return s;
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
    Status s = converter.Convert(root, "", doc.json, doc.lines);
    if (!s.ok()) return s;
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
