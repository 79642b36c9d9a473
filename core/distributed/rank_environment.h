// Where this process stands among the ranks of an expert-parallel group, read from the
// environment a launcher set: explicit RANK/WORLD_SIZE/... (switchyard launch, torchrun),
// Open MPI (mpirun), PMI (MPICH/Hydra) or Slurm (srun). No variables at all means a world of 1.
#ifndef SWITCHYARD_CORE_DISTRIBUTED_RANK_ENVIRONMENT_H_
#define SWITCHYARD_CORE_DISTRIBUTED_RANK_ENVIRONMENT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sy {

struct RankInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // index among the ranks on this host
  int local_world_size = 1;  // ranks on this host
  int node = 0;              // index of this host
  int num_nodes = 1;
  std::string master_addr;  // where rank 0 serves the bootstrap; empty in a world of 1
  int master_port = 0;
  // Names the group's shared resources (SWITCHYARD_GROUP_ID, or Slurm's job and step); empty
  // means rank 0 makes one up when the group forms.
  std::string group_id;
  // The source the values came from: "explicit", "open-mpi", "pmi", "slurm" or "none".
  std::string source = "none";
};

// The port rank 0 listens on when MASTER_PORT is not set (torchrun's default).
inline constexpr int kDefaultMasterPort = 29500;

// Reads, in order of precedence: RANK/WORLD_SIZE (+ LOCAL_RANK, LOCAL_WORLD_SIZE), Open MPI's
// OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}, PMI_RANK/PMI_SIZE (+ MPI_LOCALRANKID,
// MPI_LOCALNRANKS), Slurm's SLURM_{PROCID,NTASKS,LOCALID,NODEID,NNODES,TASKS_PER_NODE}.
// MASTER_ADDR and MASTER_PORT apply to every source; Slurm falls back to
// SLURM_LAUNCH_NODE_IPADDR or the first host of SLURM_NODELIST. A value that is not a number,
// out of range or inconsistent gives an error naming the variable.
absl::StatusOr<RankInfo> RankInfoFromEnvironment();
// The same from a table of variables (what the process environment holds).
absl::StatusOr<RankInfo> RankInfoFromVariables(const std::map<std::string, std::string>& vars);

// SWITCHYARD_TIMEOUT (seconds, set by `switchyard launch --timeout`), else `fallback`.
absl::StatusOr<absl::Duration> TimeoutFromEnvironment(absl::Duration fallback);

}  // namespace sy

#endif  // SWITCHYARD_CORE_DISTRIBUTED_RANK_ENVIRONMENT_H_
