// Models the planner knows by name: the published config.json of each, embedded, so that
// `switchyard plan deepseek-v3` needs no download.
#ifndef SWITCHYARD_CORE_PLANNING_MODEL_PRESETS_H_
#define SWITCHYARD_CORE_PLANNING_MODEL_PRESETS_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/planning/model_shape.h"

namespace sy::planning {

std::vector<std::string> ModelPresetNames();

// The preset's config.json, as published.
absl::StatusOr<nlohmann::json> ModelPresetConfig(const std::string& name);

// The preset's shape; its source names the Hugging Face repository the config comes from.
absl::StatusOr<ModelShape> LoadModelPreset(const std::string& name);

// A config.json, a folder holding one, or else a preset name. A name that is none of these is
// an error listing the presets.
absl::StatusOr<ModelShape> ResolveModel(const std::string& preset_or_path);

}  // namespace sy::planning

#endif  // SWITCHYARD_CORE_PLANNING_MODEL_PRESETS_H_
