// A component's config schema, loaded from the nodes its plugin exports, and the typed
// message built from a user's ConfigValue table.
//
// Building validates everything the schema says: field names, types, enum names, the
// integer ranges of the field types and the min/max annotations. Errors name the component
// and the field path ("router.softmax_topk: field 'k' = 0 is below its minimum 1").
#ifndef SWITCHYARD_CORE_CONFIG_CONFIG_SCHEMA_H_
#define SWITCHYARD_CORE_CONFIG_CONFIG_SCHEMA_H_

#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/schema-loader.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/config/config_value.h"
#include "switchyard/plugin_abi.h"

namespace sy {

// One field as `switchyard plugins --describe` prints it. Group members are flattened with
// dotted names; union members carry the union they belong to.
struct ConfigFieldInfo {
  std::string name;
  std::string type;
  std::string default_value;
  std::string doc;
  std::string union_of;  // empty unless the field is a member of a union
  std::optional<double> min;
  std::optional<double> max;
};

// A built config: a Cap'n Proto message of the component's config struct.
class ConfigMessage {
 public:
  ConfigMessage(std::unique_ptr<capnp::MallocMessageBuilder> builder, capnp::StructSchema schema);

  capnp::DynamicStruct::Reader reader() const;
  // A borrowed segment-array view for create(); valid while this object lives.
  const sy_message* c_message() const { return &c_message_; }
  // Cap'n Proto text form: (k = 2, renormalize = true)
  std::string ToText() const;
  // Every field with its value (defaults included), as plain data.
  ConfigValue ToValue() const;

 private:
  std::unique_ptr<capnp::MallocMessageBuilder> builder_;
  capnp::StructSchema schema_;
  std::vector<const uint64_t*> segment_pointers_;
  std::vector<size_t> segment_sizes_;
  sy_message c_message_;
};

class ConfigSchema {
 public:
  // Loads the exported nodes into `loader` and finds the root struct. Fails with a message
  // naming `owner` when a node is malformed or the root is missing or not a struct.
  static absl::StatusOr<ConfigSchema> Load(capnp::SchemaLoader& loader,
                                           const sy_config_schema& exported,
                                           absl::string_view owner);

  capnp::StructSchema schema() const { return schema_; }
  std::vector<ConfigFieldInfo> Fields() const;
  // Validates `table` against the schema and builds the message. `component` ("kind.name")
  // prefixes error messages.
  absl::StatusOr<std::shared_ptr<const ConfigMessage>> Build(const ConfigValue& table,
                                                             absl::string_view component) const;

 private:
  explicit ConfigSchema(capnp::StructSchema schema) : schema_(schema) {}
  capnp::StructSchema schema_;
};

// Any Cap'n Proto struct as plain data (non-union fields, then the active union member), for
// Lua and printing. capnp::toDynamic(reader) gives the argument for generated types.
ConfigValue CapnpToValue(capnp::DynamicStruct::Reader reader);

// "UInt32", "List(Float32)", "enum {drop, reroute}", ...
std::string CapnpTypeName(capnp::Type type);

}  // namespace sy

#endif  // SWITCHYARD_CORE_CONFIG_CONFIG_SCHEMA_H_
