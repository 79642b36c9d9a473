// Which experts each expert-parallel rank holds. Every MoE layer is placed alike.
//
// Home experts are split contiguously: rank r holds a consecutive range, the first
// (experts mod ranks) ranks one more than the rest. Redundant replicas (--redundant N) are dealt
// round-robin over the ranks: replica j goes to rank j mod ranks and copies the next expert, in id
// order, that the rank does not hold yet. A planner has no load statistics, so it cannot pick the
// hottest experts to copy as EPLB does; it reserves the memory replicas take, spread evenly.
#ifndef SWITCHYARD_CORE_PLANNING_EXPERT_PLACEMENT_H_
#define SWITCHYARD_CORE_PLANNING_EXPERT_PLACEMENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sy::planning {

struct RankExperts {
  int64_t first_home = 0;  // home experts: [first_home, first_home + home_count)
  int64_t home_count = 0;
  std::vector<int64_t> replicas;

  int64_t Slots() const { return home_count + static_cast<int64_t>(replicas.size()); }
};

struct ExpertPlacement {
  int64_t experts = 0;
  int64_t redundant = 0;
  std::vector<RankExperts> ranks;

  int64_t MaxSlotsPerRank() const;
};

// Fails when `ranks` < 1, `redundant` < 0, or a rank would need more slots than there are
// distinct experts (replicas on one rank are always of different experts than it holds).
absl::StatusOr<ExpertPlacement> PlaceExperts(int64_t experts, int64_t ranks, int64_t redundant);

// "0-31", "5", or "" for none.
std::string ExpertRangeText(int64_t first, int64_t count);

}  // namespace sy::planning

#endif  // SWITCHYARD_CORE_PLANNING_EXPERT_PLACEMENT_H_
