// Ids of the annotations in schemas/switchyard/annotations.capnp. They must match that file;
// config_schema_test checks that they do.
#ifndef SWITCHYARD_CORE_CONFIG_ANNOTATIONS_H_
#define SWITCHYARD_CORE_CONFIG_ANNOTATIONS_H_

#include <cstdint>

namespace sy::annotations {

inline constexpr uint64_t kMin = 0x8d5072784a57c001ull;
inline constexpr uint64_t kMax = 0x98a5fb229b84363aull;
inline constexpr uint64_t kDoc = 0xd7ea0f5e670bf541ull;

}  // namespace sy::annotations

#endif  // SWITCHYARD_CORE_CONFIG_ANNOTATIONS_H_
