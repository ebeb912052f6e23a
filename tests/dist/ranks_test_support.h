// Several ranks of a job as threads of one test process, joined over real c10d (a TCPStore and
// Gloo on loopback, a fresh port each time).
#pragma once

#include <functional>

#include "dist/process_group.h"

namespace wm::dist {

// Runs `body(group)` on `world` ranks, one thread each; a failure in any rank's body is reported
// (EXPECT) after all have ended. `device_of(rank)`: the group's device (none: the CPU, Gloo).
void on_ranks(int world, const std::function<void(ProcessGroup&)>& body, const std::function<c10::Device(int)>& device_of = {});

// `group` as a shared_ptr that does not own it (for a GroupRanks inside on_ranks' body).
std::shared_ptr<ProcessGroup> borrowed(ProcessGroup& group);

}  // namespace wm::dist
