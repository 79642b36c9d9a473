// Checkpoint: a Hugging Face model directory opened for reading. config.json is required and
// parsed into a ModelConfig; weights come from the shards model.safetensors.index.json lists,
// or, without an index, from every *.safetensors file in the directory; generation_config.json
// is read when present. All shards are mmapped and their headers validated by Open(), so a
// broken checkpoint fails there, naming the file and tensor, before any weight is used.
#ifndef SWITCHYARD_CORE_MODEL_CHECKPOINT_H_
#define SWITCHYARD_CORE_MODEL_CHECKPOINT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/model/model_config.h"
#include "core/model/safetensors.h"
#include "core/tensor/tensor.h"

namespace sy {

class Checkpoint {
 public:
  static absl::StatusOr<Checkpoint> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  // config.json as read, for fields ModelConfig does not carry.
  const nlohmann::json& config_json() const { return config_json_; }
  const std::optional<GenerationConfig>& generation_config() const { return generation_; }

  // Sorted tensor names across all shards.
  std::vector<std::string> names() const;
  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }
  // A zero-copy view that keeps its shard mapped while it lives.
  absl::StatusOr<Tensor> Get(const std::string& name) const;
  // Get(), checking the shape and dtype the model code expects.
  absl::StatusOr<Tensor> Require(const std::string& name, const Shape& shape, DType dtype) const;

 private:
  absl::Status LoadShards();
  absl::Status LoadIndexedShards(const std::string& index_path);
  absl::Status AddShard(const std::string& file, const std::vector<std::string>* only);

  std::string dir_;
  ModelConfig config_;
  nlohmann::json config_json_;
  std::optional<GenerationConfig> generation_;
  // Tensor name -> the shard that holds it.
  std::map<std::string, std::shared_ptr<SafetensorsFile>> tensors_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_CHECKPOINT_H_
