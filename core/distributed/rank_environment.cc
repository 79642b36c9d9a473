#include "core/distributed/rank_environment.h"

#include <cstdlib>
#include <optional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"

extern char** environ;

namespace sy {
namespace {

class Variables {
 public:
  explicit Variables(const std::map<std::string, std::string>& vars) : vars_(vars) {}

  const std::string* Find(const std::string& name) const {
    auto it = vars_.find(name);
    return it == vars_.end() ? nullptr : &it->second;
  }
  bool Has(const std::string& name) const { return Find(name) != nullptr; }

  // The integer value of `name` in [min, max], nullopt when unset.
  absl::StatusOr<std::optional<int>> Int(const std::string& name, int min, int max) const {
    const std::string* text = Find(name);
    if (text == nullptr) return std::optional<int>();
    int value = 0;
    if (!absl::SimpleAtoi(*text, &value)) {
      return absl::InvalidArgumentError(absl::StrCat(name, "='", *text, "' is not an integer"));
    }
    if (value < min || value > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, "=", value, " is outside [", min, ", ", max, "]"));
    }
    return std::optional<int>(value);
  }

  absl::StatusOr<int> RequiredInt(const std::string& name, int min, int max) const {
    SY_ASSIGN_OR_RETURN(std::optional<int> value, Int(name, min, max));
    if (!value) return absl::InvalidArgumentError(absl::StrCat(name, " is not set"));
    return *value;
  }

 private:
  const std::map<std::string, std::string>& vars_;
};

constexpr int kMaxRanks = 1 << 20;

// The names one launcher uses.
struct Source {
  const char* name;
  const char* rank;
  const char* world_size;
  const char* local_rank;        // may be unset
  const char* local_world_size;  // may be unset
};

constexpr Source kSources[] = {
    {"explicit", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
    {"open-mpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr},
};

// SLURM_TASKS_PER_NODE ("2(x3),1": two tasks on each of three nodes, then one) at `node`.
absl::StatusOr<std::optional<int>> SlurmTasksOnNode(const Variables& vars, int node) {
  const std::string* text = vars.Find("SLURM_TASKS_PER_NODE");
  if (text == nullptr) return std::optional<int>();
  int index = 0;
  for (absl::string_view entry : absl::StrSplit(*text, ',')) {
    int tasks = 0, repeat = 1;
    const size_t paren = entry.find("(x");
    const bool ok =
        paren == absl::string_view::npos
            ? absl::SimpleAtoi(entry, &tasks)
            : absl::SimpleAtoi(entry.substr(0, paren), &tasks) && entry.back() == ')' &&
                  absl::SimpleAtoi(entry.substr(paren + 2, entry.size() - paren - 3), &repeat);
    if (!ok || tasks < 1 || repeat < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("SLURM_TASKS_PER_NODE='", *text, "' is not a list like 2(x3),1"));
    }
    if (node < index + repeat) return std::optional<int>(tasks);
    index += repeat;
  }
  return absl::InvalidArgumentError(absl::StrCat("SLURM_TASKS_PER_NODE='", *text,
                                                 "' lists fewer nodes than SLURM_NODEID=", node));
}

// The first host of a Slurm node list: "gpu07,gpu09" -> gpu07, "gpu[07-09,12]" -> gpu07.
absl::StatusOr<std::string> FirstSlurmHost(const std::string& list) {
  const size_t bracket = list.find('[');
  const size_t comma = list.find(',');
  if (bracket == std::string::npos || (comma != std::string::npos && comma < bracket)) {
    return list.substr(0, comma);
  }
  const size_t end = list.find_first_of("-,]", bracket);
  if (end == std::string::npos || end == bracket + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SLURM_NODELIST='", list, "' is not a simple host list; set MASTER_ADDR to rank 0's host"));
  }
  return list.substr(0, bracket) + list.substr(bracket + 1, end - bracket - 1);
}

absl::Status ReadMaster(const Variables& vars, const char* source, RankInfo& info) {
  if (const std::string* addr = vars.Find("MASTER_ADDR")) {
    info.master_addr = *addr;
  } else if (std::string(source) == "slurm") {
    if (const std::string* ip = vars.Find("SLURM_LAUNCH_NODE_IPADDR")) {
      info.master_addr = *ip;
    } else if (const std::string* list = vars.Find("SLURM_NODELIST")) {
      SY_ASSIGN_OR_RETURN(info.master_addr, FirstSlurmHost(*list));
    }
  }
  if (info.master_addr.empty() && info.world_size > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("MASTER_ADDR is not set (rank 0's host is needed when the world size is ",
                     info.world_size, ")"));
  }
  SY_ASSIGN_OR_RETURN(std::optional<int> port, vars.Int("MASTER_PORT", 1, 65535));
  if (port) {
    info.master_port = *port;
  } else if (std::string(source) == "slurm" && vars.Has("SLURM_JOB_ID")) {
    // Every task of a job derives the same port; jobs sharing a node rarely collide.
    SY_ASSIGN_OR_RETURN(int job, vars.RequiredInt("SLURM_JOB_ID", 0, 2147483647));
    info.master_port = 20000 + job % 20000;
  } else {
    info.master_port = kDefaultMasterPort;
  }
  return absl::OkStatus();
}

absl::Status ReadLocal(const Variables& vars, const Source& source, RankInfo& info) {
  SY_ASSIGN_OR_RETURN(std::optional<int> local_rank,
                      vars.Int(source.local_rank, 0, info.world_size - 1));
  std::optional<int> local_size;
  if (source.local_world_size != nullptr) {
    SY_ASSIGN_OR_RETURN(local_size, vars.Int(source.local_world_size, 1, info.world_size));
  }
  if (std::string(source.name) == "slurm") {
    SY_ASSIGN_OR_RETURN(std::optional<int> nodes, vars.Int("SLURM_NNODES", 1, info.world_size));
    SY_ASSIGN_OR_RETURN(std::optional<int> node, vars.Int("SLURM_NODEID", 0, kMaxRanks));
    info.num_nodes = nodes.value_or(1);
    info.node = node.value_or(0);
    if (info.node >= info.num_nodes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SLURM_NODEID=", info.node, " must be less than SLURM_NNODES=", info.num_nodes));
    }
    SY_ASSIGN_OR_RETURN(local_size, SlurmTasksOnNode(vars, info.node));
    if (!local_size) local_size = info.world_size / info.num_nodes;
  }
  // Without local values the ranks are taken to share one host.
  info.local_world_size = local_size.value_or(info.world_size);
  info.local_rank = local_rank.value_or(info.rank % info.local_world_size);
  if (info.local_rank >= info.local_world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.local_rank, "=", info.local_rank, " must be less than ",
                     source.local_world_size ? source.local_world_size : "the tasks on this node",
                     "=", info.local_world_size));
  }
  if (std::string(source.name) != "slurm") {
    // Launchers place ranks host by host, so hosts hold consecutive blocks of ranks.
    info.node = info.rank / info.local_world_size;
    info.num_nodes = (info.world_size + info.local_world_size - 1) / info.local_world_size;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RankInfo> RankInfoFromVariables(const std::map<std::string, std::string>& map) {
  const Variables vars(map);
  RankInfo info;
  if (const std::string* id = vars.Find("SWITCHYARD_GROUP_ID")) info.group_id = *id;
  for (const Source& source : kSources) {
    // SLURM_NTASKS alone is an allocation (salloc), not a task of a step (srun).
    const bool slurm = std::string(source.name) == "slurm";
    if (!vars.Has(source.rank) && (slurm || !vars.Has(source.world_size))) continue;
    info.source = source.name;
    SY_ASSIGN_OR_RETURN(info.world_size, vars.RequiredInt(source.world_size, 1, kMaxRanks));
    SY_ASSIGN_OR_RETURN(info.rank, vars.RequiredInt(source.rank, 0, kMaxRanks));
    if (info.rank >= info.world_size) {
      return absl::InvalidArgumentError(absl::StrCat(source.rank, "=", info.rank,
                                                     " must be less than ", source.world_size, "=",
                                                     info.world_size));
    }
    SY_RETURN_IF_ERROR(ReadLocal(vars, source, info));
    SY_RETURN_IF_ERROR(ReadMaster(vars, source.name, info));
    if (info.group_id.empty() && info.source == "slurm" && vars.Has("SLURM_JOB_ID")) {
      const std::string* step = vars.Find("SLURM_STEP_ID");
      info.group_id = absl::StrCat("slurm-", *vars.Find("SLURM_JOB_ID"), ".", step ? *step : "0");
    }
    return info;
  }
  return info;  // a world of 1
}

absl::StatusOr<RankInfo> RankInfoFromEnvironment() {
  std::map<std::string, std::string> vars;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text(*entry);
    const size_t eq = text.find('=');
    if (eq != std::string::npos) vars.emplace(text.substr(0, eq), text.substr(eq + 1));
  }
  return RankInfoFromVariables(vars);
}

absl::StatusOr<absl::Duration> TimeoutFromEnvironment(absl::Duration fallback) {
  const char* text = std::getenv("SWITCHYARD_TIMEOUT");
  if (text == nullptr) return fallback;
  double seconds = 0;
  if (!absl::SimpleAtod(text, &seconds) || !(seconds > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("SWITCHYARD_TIMEOUT='", text, "' is not a positive number of seconds"));
  }
  return absl::Seconds(seconds);
}

}  // namespace sy
