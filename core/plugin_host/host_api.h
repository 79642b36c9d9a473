// The host side of the plugin ABI: the sy_host table handed to every plugin, and the
// conversions between sy_error and absl::Status.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_HOST_API_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_HOST_API_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "switchyard/plugin_abi.h"

namespace sy {

// The one sy_host of this process; static, never freed.
const sy_host* HostApi();

// Converts an error returned by a plugin into a Status (OK for NULL) and frees it.
// `context` prefixes the message, e.g. "router.softmax_topk: route".
absl::Status TakePluginError(sy_error* error, absl::string_view context);

// The other way: an error the host hands to a plugin (NULL for OK), e.g. from a callback such
// as sy_comm_group.all_gather. The plugin owns it.
sy_error* StatusToPluginError(const absl::Status& status);

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_HOST_API_H_
