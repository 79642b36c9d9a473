// switchyard make-model: a small Hugging Face MoE checkpoint with random weights.
#include <cstdio>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/model/model_writer.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

// The options that override a size of the preset.
struct SizeOption {
  const char* name;
  int64_t ModelSpec::*field;
};

constexpr SizeOption kSizeOptions[] = {{"layers", &ModelSpec::layers},
                                       {"hidden", &ModelSpec::hidden},
                                       {"intermediate", &ModelSpec::intermediate},
                                       {"experts", &ModelSpec::experts},
                                       {"top-k", &ModelSpec::top_k},
                                       {"heads", &ModelSpec::heads},
                                       {"kv-heads", &ModelSpec::kv_heads},
                                       {"vocab", &ModelSpec::vocab},
                                       {"shards", &ModelSpec::shards}};

std::vector<OptionSpec> Options() {
  std::vector<OptionSpec> options = {{"arch", true},  {"preset", true}, {"seed", true},
                                     {"dtype", true}, {"out", true},    {"fp8", false},
                                     {"mxfp4", false}};
  for (const SizeOption& o : kSizeOptions) options.push_back({o.name, true});
  return options;
}

// The preset named by --preset, else the tiny one of --arch; both must agree.
absl::StatusOr<ModelSpec> BaseSpec(const ParsedArgs& args) {
  if (!args.Has("arch") && !args.Has("preset")) {
    return absl::InvalidArgumentError("--arch or --preset is required");
  }
  std::optional<Architecture> arch;
  if (args.Has("arch")) {
    auto parsed = ArchitectureFromModelType(args.Get("arch"));
    if (!parsed.ok())
      return absl::InvalidArgumentError(absl::StrCat("--arch: ", parsed.status().message()));
    arch = *parsed;
  }
  if (!args.Has("preset")) return DefaultPreset(*arch);
  auto spec = Preset(args.Get("preset"));
  if (!spec.ok())
    return absl::InvalidArgumentError(absl::StrCat("--preset: ", spec.status().message()));
  if (arch && spec->arch != *arch) {
    return absl::InvalidArgumentError(absl::StrCat("--preset ", args.Get("preset"), " is for ",
                                                   ModelType(spec->arch), ", not ",
                                                   args.Get("arch")));
  }
  return spec;
}

absl::Status ApplyOverrides(const ParsedArgs& args, ModelSpec& spec) {
  for (const SizeOption& o : kSizeOptions) {
    SY_ASSIGN_OR_RETURN(spec.*o.field, args.GetInt(o.name, spec.*o.field, 1));
  }
  SY_ASSIGN_OR_RETURN(spec.seed, args.GetInt("seed", static_cast<int64_t>(spec.seed), 0));
  const std::string dtype = args.Get("dtype", "f32");
  if (dtype != "f32" && dtype != "bf16") {
    return absl::InvalidArgumentError(
        absl::StrCat("--dtype: expected f32 or bf16, got '", dtype, "'"));
  }
  spec.dtype = dtype == "bf16" ? DType::kBF16 : DType::kF32;
  spec.fp8 = args.Has("fp8");
  spec.mxfp4 = args.Has("mxfp4");
  // Spec fields are named like the options ("top_k" for --top-k).
  const absl::Status valid = ValidateModelSpec(spec);
  if (!valid.ok())
    return absl::InvalidArgumentError(absl::StrCat("invalid model: ", valid.message()));
  return absl::OkStatus();
}

void PrintSummary(const ModelSpec& spec, const std::string& dir,
                  const std::vector<WrittenFile>& files) {
  std::printf("wrote %s model (%s, %lld layers, %lld experts, top-%lld, %s) to %s\n\n",
              ModelType(spec.arch), ArchitectureName(spec.arch),
              static_cast<long long>(spec.layers), static_cast<long long>(spec.experts),
              static_cast<long long>(spec.top_k), DTypeName(spec.dtype), dir.c_str());
  TextTable table({"FILE", "TENSORS", "PARAMETERS", "BYTES"});
  WrittenFile total{"total"};
  for (const WrittenFile& f : files) {
    const bool weights = f.tensors > 0;
    table.AddRow({f.name, weights ? absl::StrCat(f.tensors) : "",
                  weights ? absl::StrCat(f.parameters) : "", absl::StrCat(f.bytes)});
    total.tensors += f.tensors;
    total.parameters += f.parameters;
    total.bytes += f.bytes;
  }
  table.AddRow({total.name, absl::StrCat(total.tensors), absl::StrCat(total.parameters),
                absl::StrCat(total.bytes)});
  std::printf("%s", table.Render().c_str());
}

}  // namespace

int MakeModelCommand(const std::vector<std::string>& argv) {
  auto args = Parse(argv, Options(), /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("make-model", args.status().message());
  if (args->Has("help")) return PrintUsage("make-model");
  if (!args->positional.empty()) return UsageError("make-model", "takes no positional arguments");
  if (!args->Has("out")) return UsageError("make-model", "--out DIR is required");
  auto spec = BaseSpec(*args);
  if (!spec.ok()) return UsageError("make-model", spec.status().message());
  if (absl::Status s = ApplyOverrides(*args, *spec); !s.ok())
    return UsageError("make-model", s.message());
  const std::string dir = args->Get("out");
  auto files = WriteModel(*spec, dir);
  if (!files.ok()) {
    std::fprintf(stderr, "switchyard make-model: %s\n",
                 std::string(files.status().message()).c_str());
    return 1;
  }
  PrintSummary(*spec, dir, *files);
  return 0;
}

}  // namespace sy::cli
