#include "output_context.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace examples {

gale::plugin::ActionResult OutputContext::run(const gale::plugin::Json& parameters) {
  using gale::plugin::ActionResult;
  gale::plugin::Json config = action_service().config();
  if (!config.contains("log") || !config["log"].is_string() ||
      config["log"].get<std::string>().empty()) {
    return ActionResult::failure("The output filepath is invalid: set `log` in the pack config.");
  }
  const std::string path = config["log"].get<std::string>();
  std::ofstream out(path, std::ios::app);
  if (!out) {
    return ActionResult::failure("cannot open " + path + ": " + std::strerror(errno));
  }
  out << parameters.value("context", "") << '\n';
  out.flush();
  if (!out) return ActionResult::failure("cannot write " + path + ": " + std::strerror(errno));
  return ActionResult::success({{"message", "This processing succeeded."}, {"log", path}});
}

}  // namespace examples
