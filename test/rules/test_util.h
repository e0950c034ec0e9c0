// Shared helpers for the rules tests.
#pragma once

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "host/common/json.h"
#include "host/rules/iso8601.h"
#include "host/rules/template/context.h"

namespace gale::rules::testing {

inline Json LoadJson(const std::string& name) {
  std::ifstream in(std::string(GALE_SOURCE_DIR) + "/test/rules/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

inline std::chrono::system_clock::time_point At(const std::string& iso) {
  return *ParseIsoDateTime(iso);
}

inline TemplateContext FixedClock(const std::string& iso) {
  TemplateContext ctx;
  auto now = At(iso);
  ctx.now = [now] { return now; };
  return ctx;
}

}  // namespace gale::rules::testing
