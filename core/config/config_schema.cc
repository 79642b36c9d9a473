#include "core/config/config_schema.h"

#include <capnp/schema.capnp.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "core/config/annotations.h"

namespace sy {
namespace {

using capnp::schema::Type;

struct Range {
  std::optional<double> min;
  std::optional<double> max;
};

Range AnnotatedRange(capnp::StructSchema::Field field) {
  Range range;
  for (auto annotation : field.getProto().getAnnotations()) {
    auto value = annotation.getValue();
    if (value.which() != capnp::schema::Value::FLOAT64) continue;
    if (annotation.getId() == annotations::kMin) range.min = value.getFloat64();
    if (annotation.getId() == annotations::kMax) range.max = value.getFloat64();
  }
  return range;
}

std::string AnnotatedDoc(capnp::StructSchema::Field field) {
  for (auto annotation : field.getProto().getAnnotations()) {
    if (annotation.getId() == annotations::kDoc &&
        annotation.getValue().which() == capnp::schema::Value::TEXT) {
      return annotation.getValue().getText();
    }
  }
  return "";
}

// The representable range of an integer field type.
std::pair<double, double> IntegerLimits(Type::Which which) {
  switch (which) {
    case Type::INT8:
      return {-128.0, 127.0};
    case Type::INT16:
      return {-32768.0, 32767.0};
    case Type::INT32:
      return {-2147483648.0, 2147483647.0};
    case Type::INT64:
      return {-9223372036854775808.0, 9223372036854775807.0};
    case Type::UINT8:
      return {0.0, 255.0};
    case Type::UINT16:
      return {0.0, 65535.0};
    case Type::UINT32:
      return {0.0, 4294967295.0};
    default:
      return {0.0, 18446744073709551615.0};
  }
}

bool IsInteger(Type::Which which) {
  switch (which) {
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
    case Type::UINT64:
      return true;
    default:
      return false;
  }
}

std::string FormatNumber(double x) {
  if (x == std::floor(x) && std::fabs(x) < 1e15) return absl::StrCat(static_cast<int64_t>(x));
  return absl::StrCat(x);
}

// Cap'n Proto names are camelCase; users coming from Hugging Face configs write snake_case
// (n_group for nGroup), so either spelling finds the field.
std::string SnakeToCamel(absl::string_view name) {
  std::string out;
  bool upper = false;
  for (char c : name) {
    if (c == '_') {
      upper = !out.empty();
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

class MessageBuilder {
 public:
  explicit MessageBuilder(absl::string_view component) : component_(component) {}

  absl::Status FillStruct(capnp::DynamicStruct::Builder builder, const ConfigValue& value,
                          const std::string& path) {
    if (!value.is_table()) {
      return Error(path, absl::StrCat("expected a table, got ", value.type_name()));
    }
    const auto schema = builder.getSchema();
    std::string union_member;
    std::set<std::string> seen;
    for (const auto& [name, item] : std::get<ConfigTable>(value.value)) {
      const std::string field_path = path.empty() ? name : absl::StrCat(path, ".", name);
      kj::Maybe<capnp::StructSchema::Field> found = schema.findFieldByName(name);
      if (found == nullptr && name.find('_') != std::string::npos) {
        found = schema.findFieldByName(SnakeToCamel(name));
      }
      KJ_IF_MAYBE (field, found) {
        const std::string canonical = field->getProto().getName().cStr();
        if (!seen.insert(canonical).second) {
          return Error(field_path, absl::StrCat("is given twice (as '", canonical,
                                                "' and its snake_case spelling)"));
        }
        if (field->getProto().getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT) {
          if (!union_member.empty()) {
            return Error(field_path, absl::StrCat("cannot be set together with '", union_member,
                                                  "': they are alternatives of one union"));
          }
          union_member = name;
        }
        SY_RETURN_IF_ERROR(SetField(builder, *field, item, field_path));
      } else {
        std::vector<std::string> known;
        for (auto f : schema.getFields()) known.push_back(f.getProto().getName());
        return absl::InvalidArgumentError(absl::StrCat(
            component_, ": unknown field '", field_path,
            "' (known fields: ", known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const std::string& path, absl::string_view message) const {
    if (path.empty())
      return absl::InvalidArgumentError(absl::StrCat(component_, ": config ", message));
    return absl::InvalidArgumentError(absl::StrCat(component_, ": field '", path, "' ", message));
  }

  absl::Status SetField(capnp::DynamicStruct::Builder builder, capnp::StructSchema::Field field,
                        const ConfigValue& value, const std::string& path) {
    const capnp::Type type = field.getType();
    switch (type.which()) {
      case Type::STRUCT:
        return FillStruct(StructField(builder, field), value, path);
      case Type::LIST:
        return SetList(builder, field, value, path);
      default:
        break;
    }
    SY_ASSIGN_OR_RETURN(Scalar scalar, ToScalar(type, value, AnnotatedRange(field), path));
    try {
      builder.set(field, scalar.Reader());
    } catch (const kj::Exception& e) {
      return Error(path, e.getDescription().cStr());
    }
    return absl::OkStatus();
  }

  static capnp::DynamicStruct::Builder StructField(capnp::DynamicStruct::Builder builder,
                                                   capnp::StructSchema::Field field) {
    if (field.getProto().isGroup()) return builder.get(field).as<capnp::DynamicStruct>();
    return builder.init(field).as<capnp::DynamicStruct>();
  }

  absl::Status SetList(capnp::DynamicStruct::Builder builder, capnp::StructSchema::Field field,
                       const ConfigValue& value, const std::string& path) {
    // An empty Lua table arrives as an empty table; it is a valid empty list.
    const bool empty_table = value.is_table() && std::get<ConfigTable>(value.value).empty();
    if (!value.is_list() && !empty_table) {
      return Error(path, absl::StrCat("expected a list, got ", value.type_name()));
    }
    const ConfigList items = empty_table ? ConfigList{} : std::get<ConfigList>(value.value);
    const capnp::Type element = field.getType().asList().getElementType();
    auto list = builder.init(field, items.size()).as<capnp::DynamicList>();
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string item_path = absl::StrCat(path, "[", i + 1, "]");
      if (element.isStruct()) {
        SY_RETURN_IF_ERROR(FillStruct(list[i].as<capnp::DynamicStruct>(), items[i], item_path));
        continue;
      }
      if (element.isList()) return Error(item_path, "nested lists are not supported in configs");
      SY_ASSIGN_OR_RETURN(Scalar scalar,
                          ToScalar(element, items[i], AnnotatedRange(field), item_path));
      list.set(i, scalar.Reader());
    }
    return absl::OkStatus();
  }

  // A value ready to be written: DynamicValue::Reader borrows text, so keep it here.
  struct Scalar {
    capnp::DynamicValue::Type kind = capnp::DynamicValue::VOID;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    std::string text;
    bool is_data = false;
    capnp::DynamicEnum enumerant;

    capnp::DynamicValue::Reader Reader() const {
      switch (kind) {
        case capnp::DynamicValue::BOOL:
          return b;
        case capnp::DynamicValue::INT:
          return i;
        case capnp::DynamicValue::FLOAT:
          return f;
        case capnp::DynamicValue::TEXT:
          return capnp::Text::Reader(text.data(), text.size());
        case capnp::DynamicValue::DATA:
          return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(text.data()), text.size());
        case capnp::DynamicValue::ENUM:
          return enumerant;
        default:
          return capnp::VOID;
      }
    }
  };

  absl::StatusOr<Scalar> ToScalar(capnp::Type type, const ConfigValue& value, const Range& range,
                                  const std::string& path) const {
    Scalar out;
    const Type::Which which = type.which();
    if (which == Type::VOID) {
      if (!value.is_bool() || !std::get<bool>(value.value)) {
        return Error(path, "selects a union alternative: set it to true");
      }
      return out;
    }
    if (which == Type::BOOL) {
      if (!value.is_bool())
        return Error(path, absl::StrCat("expected a boolean, got ", value.type_name()));
      out.kind = capnp::DynamicValue::BOOL;
      out.b = std::get<bool>(value.value);
      return out;
    }
    if (which == Type::TEXT || which == Type::DATA) {
      if (!value.is_string())
        return Error(path, absl::StrCat("expected a string, got ", value.type_name()));
      out.kind = which == Type::TEXT ? capnp::DynamicValue::TEXT : capnp::DynamicValue::DATA;
      out.text = std::get<std::string>(value.value);
      return out;
    }
    if (which == Type::ENUM) return ToEnum(type.asEnum(), value, path);
    if (which == Type::FLOAT32 || which == Type::FLOAT64 || IsInteger(which)) {
      return ToNumber(which, value, range, path);
    }
    return Error(path,
                 absl::StrCat("has type ", CapnpTypeName(type), ", which configs cannot set"));
  }

  absl::StatusOr<Scalar> ToEnum(capnp::EnumSchema schema, const ConfigValue& value,
                                const std::string& path) const {
    std::vector<std::string> names;
    for (auto e : schema.getEnumerants()) names.push_back(e.getProto().getName());
    if (value.is_string()) {
      KJ_IF_MAYBE (e, schema.findEnumerantByName(std::get<std::string>(value.value))) {
        Scalar out;
        out.kind = capnp::DynamicValue::ENUM;
        out.enumerant = capnp::DynamicEnum(*e);
        return out;
      }
      return Error(path, absl::StrCat("= \"", std::get<std::string>(value.value),
                                      "\" is not one of: ", absl::StrJoin(names, ", ")));
    }
    return Error(path, absl::StrCat("expected one of: ", absl::StrJoin(names, ", "), "; got ",
                                    value.type_name()));
  }

  absl::StatusOr<Scalar> ToNumber(Type::Which which, const ConfigValue& value, const Range& range,
                                  const std::string& path) const {
    if (!value.is_number())
      return Error(path, absl::StrCat("expected a number, got ", value.type_name()));
    const double x = value.as_number();
    Scalar out;
    if (IsInteger(which)) {
      if (!value.is_integer() && x != std::floor(x)) {
        return Error(path, absl::StrCat("expected an integer, got ", FormatNumber(x)));
      }
      // hi for the 64-bit types is 2^63 or 2^64 once a double: exclusive there, so the cast
      // below stays defined.
      const auto [lo, hi] = IntegerLimits(which);
      const bool is_64 = which == Type::INT64 || which == Type::UINT64;
      if (x < lo || (is_64 ? x >= hi : x > hi)) {
        return Error(path, absl::StrCat("= ", FormatNumber(x), " does not fit its type ",
                                        CapnpTypeName(capnp::Type(which))));
      }
      out.kind = capnp::DynamicValue::INT;
      out.i = value.is_integer() ? std::get<int64_t>(value.value) : static_cast<int64_t>(x);
    } else {
      if (!std::isfinite(x)) return Error(path, "must be a finite number");
      out.kind = capnp::DynamicValue::FLOAT;
      out.f = x;
    }
    if (range.min && x < *range.min) {
      return Error(path, absl::StrCat("= ", FormatNumber(x), " is below its minimum ",
                                      FormatNumber(*range.min)));
    }
    if (range.max && x > *range.max) {
      return Error(path, absl::StrCat("= ", FormatNumber(x), " is above its maximum ",
                                      FormatNumber(*range.max)));
    }
    return out;
  }

  std::string component_;
};

ConfigValue DynamicToValue(capnp::DynamicValue::Reader value);

ConfigValue StructToValue(capnp::DynamicStruct::Reader reader) {
  ConfigTable table;
  for (auto field : reader.getSchema().getNonUnionFields()) {
    table.emplace_back(field.getProto().getName(), DynamicToValue(reader.get(field)));
  }
  KJ_IF_MAYBE (active, reader.which()) {
    table.emplace_back(active->getProto().getName(), DynamicToValue(reader.get(*active)));
  }
  return {table};
}

ConfigValue DynamicToValue(capnp::DynamicValue::Reader value) {
  switch (value.getType()) {
    case capnp::DynamicValue::VOID:
      return {true};
    case capnp::DynamicValue::BOOL:
      return {value.as<bool>()};
    case capnp::DynamicValue::INT:
      return {value.as<int64_t>()};
    case capnp::DynamicValue::UINT: {
      const uint64_t v = value.as<uint64_t>();  // beyond int64 only as an approximate number
      if (v > static_cast<uint64_t>(INT64_MAX)) return {static_cast<double>(v)};
      return {static_cast<int64_t>(v)};
    }
    case capnp::DynamicValue::FLOAT:
      return {value.as<double>()};
    case capnp::DynamicValue::TEXT:
      return {std::string(value.as<capnp::Text>().cStr())};
    case capnp::DynamicValue::DATA: {
      auto data = value.as<capnp::Data>();
      return {std::string(reinterpret_cast<const char*>(data.begin()), data.size())};
    }
    case capnp::DynamicValue::ENUM: {
      KJ_IF_MAYBE (e, value.as<capnp::DynamicEnum>().getEnumerant()) {
        return {std::string(e->getProto().getName().cStr())};
      }
      return {static_cast<int64_t>(value.as<capnp::DynamicEnum>().getRaw())};
    }
    case capnp::DynamicValue::LIST: {
      ConfigList list;
      for (auto item : value.as<capnp::DynamicList>()) list.push_back(DynamicToValue(item));
      return {list};
    }
    case capnp::DynamicValue::STRUCT:
      return StructToValue(value.as<capnp::DynamicStruct>());
    default:
      return {};
  }
}

void CollectFields(capnp::StructSchema schema, capnp::DynamicStruct::Reader defaults,
                   const std::string& prefix, const std::string& union_of,
                   std::vector<ConfigFieldInfo>& out) {
  for (auto field : schema.getFields()) {
    const auto proto = field.getProto();
    const std::string name = prefix + proto.getName().cStr();
    const bool in_union = proto.getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT;
    const std::string owner =
        in_union ? (prefix.empty() ? "(union)" : prefix.substr(0, prefix.size() - 1)) : union_of;
    if (proto.isGroup()) {
      CollectFields(field.getType().asStruct(), defaults.get(field).as<capnp::DynamicStruct>(),
                    name + ".", owner, out);
      continue;
    }
    ConfigFieldInfo info;
    info.name = name;
    info.type = CapnpTypeName(field.getType());
    // Only the active member of a union has a value; the others show none.
    bool has_value = !in_union;
    KJ_IF_MAYBE (active, defaults.which()) {
      has_value = has_value || *active == field;
    }
    info.default_value = has_value ? kj::str(defaults.get(field)).cStr() : "";
    info.doc = AnnotatedDoc(field);
    info.union_of = owner;
    const Range range = AnnotatedRange(field);
    info.min = range.min;
    info.max = range.max;
    out.push_back(std::move(info));
  }
}

}  // namespace

const char* ConfigValue::type_name() const {
  switch (value.index()) {
    case 0:
      return "nil";
    case 1:
      return "boolean";
    case 2:
      return "integer";
    case 3:
      return "number";
    case 4:
      return "string";
    case 5:
      return "list";
    default:
      return "table";
  }
}

std::string CapnpTypeName(capnp::Type type) {
  switch (type.which()) {
    case Type::VOID:
      return "Void";
    case Type::BOOL:
      return "Bool";
    case Type::INT8:
      return "Int8";
    case Type::INT16:
      return "Int16";
    case Type::INT32:
      return "Int32";
    case Type::INT64:
      return "Int64";
    case Type::UINT8:
      return "UInt8";
    case Type::UINT16:
      return "UInt16";
    case Type::UINT32:
      return "UInt32";
    case Type::UINT64:
      return "UInt64";
    case Type::FLOAT32:
      return "Float32";
    case Type::FLOAT64:
      return "Float64";
    case Type::TEXT:
      return "Text";
    case Type::DATA:
      return "Data";
    case Type::LIST:
      return absl::StrCat("List(", CapnpTypeName(type.asList().getElementType()), ")");
    case Type::ENUM: {
      std::vector<std::string> names;
      for (auto e : type.asEnum().getEnumerants()) names.push_back(e.getProto().getName());
      return absl::StrCat("enum {", absl::StrJoin(names, ", "), "}");
    }
    case Type::STRUCT:
      return type.asStruct().getUnqualifiedName().cStr();
    default:
      return "unsupported";
  }
}

ConfigMessage::ConfigMessage(std::unique_ptr<capnp::MallocMessageBuilder> builder,
                             capnp::StructSchema schema)
    : builder_(std::move(builder)), schema_(schema) {
  for (auto segment : builder_->getSegmentsForOutput()) {
    segment_pointers_.push_back(reinterpret_cast<const uint64_t*>(segment.begin()));
    segment_sizes_.push_back(segment.size());
  }
  c_message_ = {segment_pointers_.data(), segment_sizes_.data(), segment_pointers_.size()};
}

capnp::DynamicStruct::Reader ConfigMessage::reader() const {
  return builder_->getRoot<capnp::DynamicStruct>(schema_).asReader();
}

std::string ConfigMessage::ToText() const { return kj::str(reader()).cStr(); }

ConfigValue ConfigMessage::ToValue() const { return StructToValue(reader()); }

ConfigValue CapnpToValue(capnp::DynamicStruct::Reader reader) { return StructToValue(reader); }

absl::StatusOr<ConfigSchema> ConfigSchema::Load(capnp::SchemaLoader& loader,
                                                const sy_config_schema& exported,
                                                absl::string_view owner) {
  if (exported.node_count == 0 || exported.nodes == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(owner, ": exports no config schema nodes"));
  }
  try {
    for (size_t i = 0; i < exported.node_count; ++i) {
      const sy_schema_node& node = exported.nodes[i];
      if (node.words == nullptr || node.word_count == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(owner, ": config schema node ", i, " is empty"));
      }
      capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(
          reinterpret_cast<const capnp::word*>(node.words), node.word_count));
      loader.load(reader.getRoot<capnp::schema::Node>());
    }
    KJ_IF_MAYBE (root, loader.tryGet(exported.root_type_id)) {
      if (!root->getProto().isStruct()) {
        return absl::InvalidArgumentError(absl::StrCat(owner, ": config root is not a struct"));
      }
      return ConfigSchema(root->asStruct());
    }
    return absl::InvalidArgumentError(absl::StrCat(owner, ": config root type ",
                                                   absl::Hex(exported.root_type_id),
                                                   " is not among its schema nodes"));
  } catch (const kj::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(owner, ": malformed config schema: ", e.getDescription().cStr()));
  }
}

std::vector<ConfigFieldInfo> ConfigSchema::Fields() const {
  capnp::MallocMessageBuilder defaults;
  auto root = defaults.initRoot<capnp::DynamicStruct>(schema_);
  std::vector<ConfigFieldInfo> fields;
  CollectFields(schema_, root.asReader(), "", "", fields);
  return fields;
}

absl::StatusOr<std::shared_ptr<const ConfigMessage>> ConfigSchema::Build(
    const ConfigValue& table, absl::string_view component) const {
  auto builder = std::make_unique<capnp::MallocMessageBuilder>();
  auto root = builder->initRoot<capnp::DynamicStruct>(schema_);
  const ConfigValue empty{ConfigTable{}};
  SY_RETURN_IF_ERROR(MessageBuilder(component).FillStruct(
      root, std::holds_alternative<std::monostate>(table.value) ? empty : table, ""));
  return std::make_shared<const ConfigMessage>(std::move(builder), schema_);
}

}  // namespace sy
