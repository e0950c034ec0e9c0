#pragma once

#include "plugin_api/action.h"

namespace examples {

// The seed's output_context: appends `context` to the pack config's `log` file.
class OutputContext : public gale::plugin::Action {
 public:
  using Action::Action;
  gale::plugin::ActionResult run(const gale::plugin::Json& parameters) override;
};

}  // namespace examples
