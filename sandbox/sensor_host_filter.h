// The seccomp filter of `gale sensor-host`, the process that runs a pack's sensor code inside the
// node's machine: the `default` action profile (seccomp_profile.h: ptrace, mount, namespaces,
// kernel modules, bpf, keyrings, io_uring, ...) plus execve and execveat, since a sensor host
// has no reason to start programs (a pack that wants to run one defines an action). Every denied
// call fails with EPERM and the sensor carries on. The network stays open: the host produces to
// Kafka.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "host/common/result.h"

namespace gale::sandbox {

// The calls denied on top of the `default` profile's deny-list.
std::vector<std::string> SensorHostExtraDenied();

// The filter as the classic BPF programs LoadSensorHostFilter loads, in that order: for a process
// the host starts before loading its own filter (its Python sensor child, which must exec its
// interpreter first), which loads them itself before it runs pack code.
Result<std::vector<std::vector<sock_filter>>> SensorHostFilterPrograms();

// Sets no_new_privs and loads the filter on every thread of this process (TSYNC), so code loaded
// afterwards (pack libraries, their constructors, librdkafka's threads) runs under it. Irrevocable.
Status LoadSensorHostFilter();

}  // namespace gale::sandbox
