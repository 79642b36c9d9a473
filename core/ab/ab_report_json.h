// An A/B report as JSON: the raw numbers behind the table and the HTML, for scripts.
#ifndef SWITCHYARD_CORE_AB_AB_REPORT_JSON_H_
#define SWITCHYARD_CORE_AB_AB_REPORT_JSON_H_

#include <string>

#include "core/ab/ab_run.h"

namespace sy::ab {

// Indented JSON: model, prompts, options, "quality" (B against A), and "sides" {"A", "B"},
// each with its spec, perplexity, speed (with every decode step's latency in ms) and the
// load per MoE layer (slots per expert, max/mean, CV, hot experts, dropped, rerouted).
std::string ReportJson(const Report& report);

}  // namespace sy::ab

#endif  // SWITCHYARD_CORE_AB_AB_REPORT_JSON_H_
