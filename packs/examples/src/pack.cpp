// The examples pack's exports: one polling sensor and one native action.
#include "plugin_api/pack.h"
#include "directory_sensor.h"
#include "output_context.h"

namespace {

void RegisterPack(gale::plugin::PackRegistry& pack) {
  pack.sensor<examples::DirectorySensor>("DirectorySensor");
  pack.action<examples::OutputContext>("output_context");
}

}  // namespace

GALE_PACK(RegisterPack)
