#include "core/planning/expert_placement.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace sy::planning {
namespace {

bool Holds(const RankExperts& rank, int64_t expert) {
  if (expert >= rank.first_home && expert < rank.first_home + rank.home_count) return true;
  return std::find(rank.replicas.begin(), rank.replicas.end(), expert) != rank.replicas.end();
}

}  // namespace

int64_t ExpertPlacement::MaxSlotsPerRank() const {
  int64_t most = 0;
  for (const RankExperts& r : ranks) most = std::max(most, r.Slots());
  return most;
}

absl::StatusOr<ExpertPlacement> PlaceExperts(int64_t experts, int64_t ranks, int64_t redundant) {
  if (ranks < 1)
    return absl::InvalidArgumentError(absl::StrCat("EP size must be at least 1, got ", ranks));
  if (redundant < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("redundant replicas must be at least 0, got ", redundant));
  }
  ExpertPlacement p;
  p.experts = experts;
  p.redundant = redundant;
  p.ranks.resize(ranks);
  int64_t next = 0;
  for (int64_t r = 0; r < ranks; ++r) {
    p.ranks[r].first_home = next;
    p.ranks[r].home_count = experts / ranks + (r < experts % ranks ? 1 : 0);
    next += p.ranks[r].home_count;
  }
  // Each rank must be left an expert it does not hold for every replica it receives.
  const int64_t most_home = (experts + ranks - 1) / ranks;
  const int64_t most_replicas = (redundant + ranks - 1) / ranks;
  if (redundant > 0 && most_home + most_replicas > experts) {
    return absl::InvalidArgumentError(absl::StrCat(
        redundant, " redundant replicas over EP ", ranks, " would put more than ", experts,
        " experts on a rank; each rank can hold each of the ", experts, " experts once"));
  }
  int64_t cursor = 0;
  for (int64_t j = 0; j < redundant; ++j) {
    RankExperts& rank = p.ranks[j % ranks];
    while (Holds(rank, cursor % experts)) ++cursor;
    rank.replicas.push_back(cursor % experts);
    ++cursor;
  }
  return p;
}

std::string ExpertRangeText(int64_t first, int64_t count) {
  if (count <= 0) return "";
  if (count == 1) return absl::StrCat(first);
  return absl::StrCat(first, "-", first + count - 1);
}

}  // namespace sy::planning
