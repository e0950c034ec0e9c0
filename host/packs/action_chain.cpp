#include "host/packs/action_chain.h"

#include <set>

#include "host/common/json_pointer.h"
#include "host/common/yaml_json.h"
#include "host/expr/template/template.h"

namespace gale::packs {

const ChainLink* ActionChain::Find(const std::string& name) const {
  for (const auto& link : links) {
    if (link.name == name) return &link;
  }
  return nullptr;
}

namespace {

// Every string under `value` must parse as a template (StackStorm renders them all).
void CheckTemplates(const YamlDocument& doc, const std::string& path, const Json& value,
                    const std::string& pointer, std::vector<std::string>* errors) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (!expr::LooksLikeTemplate(text)) return;
    auto parsed = expr::Template::Parse(text);
    if (!parsed.ok()) {
      errors->push_back(path + ":" + std::to_string(doc.LineOf(pointer)) + ": template '" + text +
                        "': " + parsed.message());
    }
  } else if (value.is_object()) {
    for (const auto& [k, v] : value.items()) {
      CheckTemplates(doc, path, v, pointer + PointerStep(k), errors);
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      CheckTemplates(doc, path, value[i], pointer + "/" + std::to_string(i), errors);
    }
  }
}

std::string Text(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<std::shared_ptr<const ActionChain>> ReadActionChain(const std::string& path,
                                                           std::vector<std::string>* errors) {
  auto loaded = LoadYamlFile(path);
  if (!loaded.ok()) {
    errors->push_back(loaded.message());
    return loaded.status();
  }
  const YamlDocument& doc = *loaded;
  auto at = [&](const std::string& pointer) {
    return path + ":" + std::to_string(doc.LineOf(pointer)) + ": ";
  };
  auto chain = std::make_shared<ActionChain>();
  chain->file = path;
  const Json& j = doc.json;
  if (!j.is_object() || !j.contains("chain") || !j["chain"].is_array() || j["chain"].empty()) {
    errors->push_back(at("") + "an action chain needs a non-empty `chain:` list of links");
    return Status::Error(errors->back());
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "chain" && key != "default" && key != "vars") {
      errors->push_back(at(PointerStep(key)) + "unknown key '" + key +
                        "' (an action chain has chain, default and vars)");
    }
  }
  if (j.contains("vars")) {
    if (!j["vars"].is_object()) {
      errors->push_back(at("/vars") + "vars must be a mapping");
    } else {
      chain->vars = j["vars"];
      CheckTemplates(doc, path, chain->vars, "/vars", errors);
    }
  }
  std::set<std::string> names;
  const Json& links = j["chain"];
  for (size_t i = 0; i < links.size(); ++i) {
    const std::string p = "/chain/" + std::to_string(i);
    const Json& l = links[i];
    if (!l.is_object()) {
      errors->push_back(at(p) + "a link must be a mapping with name and ref");
      continue;
    }
    ChainLink link;
    link.name = Text(l, "name");
    link.ref = Text(l, "ref");
    link.line = doc.LineOf(p);
    link.ref_line = doc.LineOf(p + "/ref");
    link.on_success = Text(l, "on-success");
    link.on_failure = Text(l, "on-failure");
    for (const auto& [key, value] : l.items()) {
      static const std::set<std::string> kKnown{"name",       "ref",     "parameters", "on-success",
                                                "on-failure", "publish", "notify"};
      if (!kKnown.contains(key)) {
        errors->push_back(at(p + PointerStep(key)) + "link '" + link.name + "': unknown key '" +
                          key + "'");
      }
    }
    if (link.name.empty()) errors->push_back(at(p) + "a link needs a name");
    if (link.ref.empty()) errors->push_back(at(p) + "link '" + link.name + "' needs a ref");
    if (!link.name.empty() && !names.insert(link.name).second) {
      errors->push_back(at(p + "/name") + "two links are named '" + link.name + "'");
    }
    if (l.contains("parameters")) {
      if (!l["parameters"].is_object()) {
        errors->push_back(at(p + "/parameters") + "link '" + link.name +
                          "': parameters must be a mapping");
      } else {
        link.parameters = l["parameters"];
        CheckTemplates(doc, path, link.parameters, p + "/parameters", errors);
      }
    }
    if (l.contains("publish")) {
      if (!l["publish"].is_object()) {
        errors->push_back(at(p + "/publish") + "link '" + link.name +
                          "': publish must be a mapping");
      } else {
        link.publish = l["publish"];
        CheckTemplates(doc, path, link.publish, p + "/publish", errors);
      }
    }
    chain->links.push_back(std::move(link));
  }
  for (size_t i = 0; i < chain->links.size(); ++i) {
    const ChainLink& link = chain->links[i];
    const std::string p = "/chain/" + std::to_string(i);
    for (const auto& [key, target] :
         {std::pair<const char*, const std::string*>{"on-success", &link.on_success},
          {"on-failure", &link.on_failure}}) {
      if (!target->empty() && !names.contains(*target)) {
        errors->push_back(at(p + "/" + key) + "link '" + link.name + "': " + key +
                          " names no link: '" + *target + "'");
      }
    }
  }
  chain->default_link = Text(j, "default");
  if (chain->default_link.empty() && !chain->links.empty()) {
    chain->default_link = chain->links.front().name;
  } else if (!names.contains(chain->default_link)) {
    errors->push_back(at("/default") + "default names no link: '" + chain->default_link + "'");
  }
  return std::shared_ptr<const ActionChain>(std::move(chain));
}

}  // namespace gale::packs
