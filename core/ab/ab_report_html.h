// An A/B report as one self-contained HTML page: inline CSS and inline SVG plots (per-expert
// load heatmaps per layer for both sides, decode-latency CDFs, quality deltas), no script and
// no external resource, so it opens offline and can be attached to a ticket.
#ifndef SWITCHYARD_CORE_AB_AB_REPORT_HTML_H_
#define SWITCHYARD_CORE_AB_AB_REPORT_HTML_H_

#include <string>

#include "core/ab/ab_run.h"

namespace sy::ab {

std::string ReportHtml(const Report& report);

// `text` with &, <, >, " and ' escaped.
std::string HtmlEscape(const std::string& text);

}  // namespace sy::ab

#endif  // SWITCHYARD_CORE_AB_AB_REPORT_HTML_H_
