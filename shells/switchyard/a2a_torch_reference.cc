#include "shells/switchyard/a2a_torch_reference.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "shells/switchyard/reference_script.h"

namespace sy::cli {
namespace {

using nlohmann::json;

constexpr char kScript[] = "torch_a2a_reference.py";

}  // namespace

bool TorchA2aAvailable(int gpus) {
  const std::string check = absl::StrCat(
      "python3 -c 'import sys, torch, torch.distributed; "
      "sys.exit(0 if torch.cuda.device_count() >= ",
      gpus, " else 1)' >/dev/null 2>&1");
  return std::system(check.c_str()) == 0;
}

absl::StatusOr<std::vector<A2aTorchRow>> RunTorchA2a(int world, const std::vector<A2aCase>& cases,
                                                     int warmup, int iters) {
  const std::string script = ReferenceScript(kScript);
  if (script.empty()) {
    return absl::NotFoundError(absl::StrCat("scripts/reference/", kScript, " not found"));
  }
  json spec = {{"warmup", warmup}, {"iters", iters}, {"cases", json::array()}};
  for (const A2aCase& c : cases) {
    spec["cases"].push_back({{"dtype", c.dtype},
                             {"tokens", c.tokens},
                             {"dispatch_row_bytes", c.dispatch_row_bytes},
                             {"combine_row_bytes", c.combine_row_bytes},
                             {"counts", c.counts}});
  }
  const std::string path =
      (std::filesystem::temp_directory_path() / absl::StrCat("switchyard-a2a-", getpid(), ".json"))
          .string();
  std::ofstream(path) << spec.dump();
  // The launcher's rank variables belong to this group, not to torch's: torch.distributed.run
  // sets its own (--standalone: a free port on this host).
  const std::string command = absl::StrCat(
      "env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u LOCAL_WORLD_SIZE -u MASTER_ADDR -u MASTER_PORT "
      "NCCL_NVLS_ENABLE=0 python3 -m torch.distributed.run --standalone --nproc-per-node ",
      world, " '", script, "' '", path, "' 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::UnavailableError("cannot run python3");
  std::string output;
  std::vector<A2aTorchRow> rows;
  std::array<char, 8192> line;
  while (std::fgets(line.data(), line.size(), pipe) != nullptr) {
    const json parsed = json::parse(line.data(), nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("torch_a2a")) {
      output += line.data();
      continue;
    }
    for (const json& r : parsed["torch_a2a"]) {
      rows.push_back({r.at("dtype").get<std::string>(), r.at("tokens").get<int64_t>(),
                      r.at("dispatch_us").get<double>(), r.at("combine_us").get<double>()});
    }
  }
  const int status = pclose(pipe);
  std::filesystem::remove(path);
  if (status != 0 || rows.empty()) {
    return absl::UnavailableError(
        absl::StrCat("torch reference exited with status ", status, ":\n", output));
  }
  return rows;
}

}  // namespace sy::cli
