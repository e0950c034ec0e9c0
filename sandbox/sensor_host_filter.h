// The seccomp filter of `gale sensor-host`, the process that runs a pack's sensor code inside the
// node's machine: the `default` action profile (seccomp_profile.h: ptrace, mount, namespaces,
// kernel modules, bpf, keyrings, io_uring, ...) plus execve and execveat, since a sensor host
// has no reason to start programs (a pack that wants to run one defines an action). Every denied
// call fails with EPERM and the sensor carries on. The network stays open: the host produces to
// Kafka.
#pragma once

#include <string>
#include <vector>

#include "host/common/result.h"

namespace gale::sandbox {

// The calls denied on top of the `default` profile's deny-list.
std::vector<std::string> SensorHostExtraDenied();

// Sets no_new_privs and loads the filter on every thread of this process (TSYNC), so code loaded
// afterwards (pack libraries, their constructors, librdkafka's threads) runs under it. Irrevocable.
Status LoadSensorHostFilter();

}  // namespace gale::sandbox
