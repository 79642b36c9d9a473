// absl::Status helpers for the core. Debian's abseil (20220623) predates absl's own status
// macros, so the project defines its own.
#ifndef SWITCHYARD_CORE_BASE_STATUS_H_
#define SWITCHYARD_CORE_BASE_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SY_STATUS_CONCAT_INNER(a, b) a##b
#define SY_STATUS_CONCAT(a, b) SY_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define SY_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status sy_status_ = (expr);      \
    if (!sy_status_.ok()) return sy_status_; \
  } while (0)

// `lhs = value of rexpr` (an absl::StatusOr), or returns its error. `lhs` may declare a
// variable: SY_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(...)); it expands to several
// statements, so put braces around it under an `if`.
#define SY_ASSIGN_OR_RETURN(lhs, rexpr) \
  SY_ASSIGN_OR_RETURN_IMPL(SY_STATUS_CONCAT(sy_statusor_, __LINE__), lhs, rexpr)

#define SY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                             \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(*tmp)

#endif  // SWITCHYARD_CORE_BASE_STATUS_H_
