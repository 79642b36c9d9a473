#include "core/model/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  }
  return json;
}

// Shard name -> the tensors the index puts in it.
absl::StatusOr<std::map<std::string, std::vector<std::string>>> ReadWeightMap(
    const std::string& index_path) {
  SY_ASSIGN_OR_RETURN(nlohmann::json index, ReadJsonFile(index_path));
  const auto it = index.is_object() ? index.find("weight_map") : index.end();
  if (it == index.end() || !it->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": missing required field 'weight_map' (an object)"));
  }
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [tensor, file] : it->items()) {
    // Shards are plain file names beside the index; a path could reach outside the checkpoint.
    if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": weight_map entry for tensor '",
                                                     tensor, "' must be a file name, got ",
                                                     file.dump()));
    }
    shards[file.get<std::string>()].push_back(tensor);
  }
  return shards;
}

}  // namespace

absl::StatusOr<Checkpoint> Checkpoint::Open(const std::string& dir) {
  Checkpoint c;
  c.dir_ = dir;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  SY_ASSIGN_OR_RETURN(c.config_json_, ReadJsonFile(config_path));
  SY_ASSIGN_OR_RETURN(c.config_, ParseModelConfig(c.config_json_, config_path));
  const fs::path generation_path = fs::path(dir) / "generation_config.json";
  if (fs::exists(generation_path)) {
    SY_ASSIGN_OR_RETURN(nlohmann::json generation, ReadJsonFile(generation_path.string()));
    SY_ASSIGN_OR_RETURN(c.generation_, ParseGenerationConfig(generation, generation_path.string()));
  }
  SY_RETURN_IF_ERROR(c.LoadShards());
  return c;
}

absl::Status Checkpoint::LoadShards() {
  const fs::path index = fs::path(dir_) / "model.safetensors.index.json";
  if (fs::exists(index)) return LoadIndexedShards(index.string());
  std::vector<std::string> files;
  std::error_code error;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, error)) {
    if (e.path().extension() == ".safetensors") files.push_back(e.path().filename().string());
  }
  if (error) return absl::NotFoundError(absl::StrCat(dir_, ": ", error.message()));
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat(dir_, ": no *.safetensors files"));
  }
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) SY_RETURN_IF_ERROR(AddShard(file, nullptr));
  return absl::OkStatus();
}

absl::Status Checkpoint::LoadIndexedShards(const std::string& index_path) {
  SY_ASSIGN_OR_RETURN(auto shards, ReadWeightMap(index_path));
  for (const auto& [file, tensors] : shards) {
    if (!fs::exists(fs::path(dir_) / file)) {
      return absl::NotFoundError(absl::StrCat(index_path, ": shard '", file, "' (holding '",
                                              tensors.front(), "') does not exist"));
    }
  }
  for (const auto& [file, tensors] : shards) SY_RETURN_IF_ERROR(AddShard(file, &tensors));
  return absl::OkStatus();
}

// Adds the tensors of shard `file`: those in `only` (each must be there), else all of them.
absl::Status Checkpoint::AddShard(const std::string& file, const std::vector<std::string>* only) {
  SY_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> shard,
                      SafetensorsFile::Open((fs::path(dir_) / file).string()));
  const std::vector<std::string> names = only != nullptr ? *only : shard->names();
  for (const std::string& name : names) {
    if (!shard->Has(name)) {
      return absl::NotFoundError(
          absl::StrCat(shard->path(), ": no tensor '", name, "' (the index says it is here)"));
    }
    auto [it, added] = tensors_.emplace(name, shard);
    if (!added) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is in both ",
                                                     it->second->path(), " and ", shard->path()));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

absl::StatusOr<Tensor> Checkpoint::Get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(dir_, ": no tensor '", name, "' in the checkpoint"));
  }
  return it->second->Get(name);
}

absl::StatusOr<Tensor> Checkpoint::Require(const std::string& name, const Shape& shape,
                                           DType dtype) const {
  SY_ASSIGN_OR_RETURN(Tensor t, Get(name));
  if (t.shape() != shape || t.dtype() != dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        tensors_.at(name)->path(), ": tensor '", name, "' is ", DTypeName(t.dtype()),
        ShapeToString(t.shape()), ", expected ", DTypeName(dtype), ShapeToString(shape)));
  }
  return t;
}

}  // namespace sy
