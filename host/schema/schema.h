// Umbrella header for the schema component.
#pragma once

#include "host/schema/parameters.h"  // IWYU pragma: export
#include "host/schema/validator.h"   // IWYU pragma: export
