// Fault injection for the tests of crash paths (a crash loop on one message cannot be caused
// otherwise, since no input is meant to crash a node). GALE_TEST_FAILPOINTS="name=text;..."
// makes FailpointHit(name, subject) true when `subject` contains `text`. Unset, it costs one
// getenv at first use.
#pragma once

#include <string_view>

namespace gale {

bool FailpointHit(std::string_view name, std::string_view subject);

}  // namespace gale
