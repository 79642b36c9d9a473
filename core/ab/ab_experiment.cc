#include "core/ab/ab_experiment.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/ab/ab_spec.h"
#include "core/base/status.h"
#include "core/model/language_model.h"

namespace sy::ab {
namespace {

// The held-out text as `switchyard perplexity` streams it (documents separated by two blank
// lines, joined by the end-of-sequence token), so the two commands' figures compare.
absl::StatusOr<std::vector<int32_t>> EncodeHeldout(const LanguageModel& model,
                                                   const std::string& path, int64_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the held-out text"));
  std::stringstream text;
  text << in.rdbuf();
  return model.EncodeDocuments(text.str(), limit);
}

// Loads one side's model, runs it, and lets it go before the other side loads, so only one
// copy of the weights is in memory at a time. The first side encodes the prompts.
absl::StatusOr<Side> RunOneSide(const std::string& label, const std::string& spec,
                                const Experiment& in, const ComponentRegistry& registry,
                                ExecContext& ctx,
                                const std::function<void(const std::string&)>& progress,
                                std::vector<std::vector<int32_t>>& prompt_ids,
                                std::string& model_name) {
  SY_ASSIGN_OR_RETURN(ModelOptions options, ParseSide(spec));
  progress(absl::StrCat(label, ": loading ", spec.empty() ? "(as loaded)" : spec));
  SY_ASSIGN_OR_RETURN(auto model, LanguageModel::Load(in.model_dir, registry, options, ctx));
  model_name = model->name;
  if (prompt_ids.empty()) {
    for (const std::string& prompt : in.prompts) {
      SY_ASSIGN_OR_RETURN(std::vector<int32_t> ids, model->EncodeText(prompt));
      prompt_ids.push_back(std::move(ids));
    }
  }
  std::vector<int32_t> heldout;
  if (!in.heldout_path.empty()) {
    SY_ASSIGN_OR_RETURN(heldout, EncodeHeldout(*model, in.heldout_path, in.heldout_tokens));
  }
  progress(absl::StrCat(label, ": running ", prompt_ids.size(), " prompts"));
  Side side;
  side.spec = spec;
  SY_ASSIGN_OR_RETURN(side.run,
                      RunSide(*model->network, ctx, prompt_ids, heldout, model->eos_ids, in.options));
  side.speed = SummarizeSpeed(side.run);
  return side;
}

absl::Status Labelled(const std::string& label, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(label, ": ", s.message()));
}

}  // namespace

absl::StatusOr<Report> RunExperiment(const Experiment& experiment,
                                     const ComponentRegistry& registry, ExecContext& ctx,
                                     const std::function<void(const std::string&)>& progress) {
  if (experiment.prompts.empty()) return absl::InvalidArgumentError("no prompts to run");
  Report report;
  report.heldout = experiment.heldout_path;
  report.options = experiment.options;
  std::vector<std::vector<int32_t>> prompt_ids;
  auto a = RunOneSide("A", experiment.a, experiment, registry, ctx, progress, prompt_ids,
                      report.model);
  if (!a.ok()) return Labelled("A", a.status());
  auto b = RunOneSide("B", experiment.b, experiment, registry, ctx, progress, prompt_ids,
                      report.model);
  if (!b.ok()) return Labelled("B", b.status());
  report.a = std::move(*a);
  report.b = std::move(*b);
  for (const auto& ids : prompt_ids) report.prompt_tokens += static_cast<int64_t>(ids.size());
  SY_ASSIGN_OR_RETURN(report.quality, Compare(report.a.run, report.b.run));
  return report;
}

}  // namespace sy::ab
