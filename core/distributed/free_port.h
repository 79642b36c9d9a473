// A TCP port nobody listens on right now, for rank 0 of a group started on this host.
#ifndef SWITCHYARD_CORE_DISTRIBUTED_FREE_PORT_H_
#define SWITCHYARD_CORE_DISTRIBUTED_FREE_PORT_H_

#include "absl/status/statusor.h"

namespace sy {

// Asks the kernel for an ephemeral port (bind to port 0) and releases it. Another process may
// take it before rank 0 does; rank 0 then fails with a message naming the port.
absl::StatusOr<int> FreeTcpPort();

}  // namespace sy

#endif  // SWITCHYARD_CORE_DISTRIBUTED_FREE_PORT_H_
