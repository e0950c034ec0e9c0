// Helpers for the tests of expressions and criteria: the JSON case tables beside them, and a
// template context whose clock stands still.
#pragma once

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "host/common/json.h"
#include "host/expr/iso8601.h"
#include "host/expr/template/context.h"

namespace gale::testing {

// `relative` is under test/, e.g. "expr/template_cases.json".
inline Json LoadJsonCases(const std::string& relative) {
  std::ifstream in(std::string(GALE_SOURCE_DIR) + "/test/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

inline std::chrono::system_clock::time_point At(const std::string& iso) {
  return *expr::ParseIsoDateTime(iso);
}

inline expr::TemplateContext FixedClock(const std::string& iso) {
  expr::TemplateContext ctx;
  auto now = At(iso);
  ctx.now = [now] { return now; };
  return ctx;
}

}  // namespace gale::testing
