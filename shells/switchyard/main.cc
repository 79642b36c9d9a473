// switchyard: the command-line entry point. Dispatches to one subcommand per file.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/base/log.h"
#include "core/plugin_host/component_registry.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"

namespace sy::cli {
namespace {

constexpr const char* kCommonHelp =
    "Common options:\n"
    "  --plugin-path DIR   also load plugins from DIR (repeatable; after the built-in\n"
    "                      plugins and $SWITCHYARD_PLUGIN_PATH)\n"
    "  --log LEVEL         debug, info, warning or error (default: $SWITCHYARD_LOG or info)\n"
    "  --help              this help\n";

void PrintOverview() {
  std::printf(
      "switchyard %s: a Mixture-of-Experts inference and serving stack\n\n"
      "Usage: switchyard COMMAND [options]\n\nCommands:\n",
      SY_VERSION);
  for (const Command& c : Commands()) std::printf("  %-11s %s\n", c.name, c.summary);
  std::printf("\nRun 'switchyard COMMAND --help' for a command's options.\n");
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"run", "run a Lua pipeline script",
       "Usage: switchyard run [options] SCRIPT.lua [ARGS...]\n\n"
       "Runs a Lua script with the switchyard module available (local sy = require "
       "\"switchyard\").\n"
       "ARGS are passed as the global table `arg` (arg[0] = SCRIPT) and as `...`.\n"
       "A script error prints file:line: message and exits with status 1.\n",
       RunCommand},
      {"shell", "an interactive Lua shell with switchyard loaded",
       "Usage: switchyard shell [options]\n\n"
       "Reads Lua from standard input, line by line; expressions print their values and `sy` is\n"
       "the switchyard module. Statements may span lines. Ends at end of input (Ctrl-D).\n",
       ShellCommand},
      {"plugins", "list plugins and components, or describe one component's config",
       "Usage: switchyard plugins [options] [--describe KIND.NAME]\n\n"
       "Without --describe: every component found on the plugin search path (kind, name, plugin,\n"
       "version, score, library), then the libraries that failed to load and why.\n"
       "With --describe: the component's config fields with types, defaults, ranges and docs.\n\n"
       "Options:\n  --describe KIND.NAME   describe one component (e.g. router.softmax_topk)\n",
       PluginsCommand},
      {"generate", "generate text from a Hugging Face MoE model on the CPU",
       "Usage: switchyard generate [--model DIR] --prompt TEXT [--chat] [--max-tokens N]\n"
       "                           [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
       "                           [--repetition-penalty R] [--seed S] [--stop TEXT]...\n"
       "                           [--quantizer KIND.NAME] [--experts KIND.NAME]\n\n"
       "Loads the model, encodes the prompt (--chat: wrapped in the family's chat format), and\n"
       "prints the continuation as it is generated, then the timing on stderr. Greedy unless\n"
       "--temperature is set; generation ends at an end-of-sequence token, a --stop string or\n"
       "--max-tokens (default 64).\n\n"
       "Model options:\n" SY_MODEL_OPTIONS_HELP,
       GenerateCommand},
      {"perplexity", "a model's perplexity on a text file",
       "Usage: switchyard perplexity [--model DIR] --text FILE [--window N] [--max-tokens N]\n\n"
       "Scores FILE with the model: the text (documents separated by two blank lines, joined\n"
       "by the end-of-sequence token) is cut into non-overlapping windows of N tokens (default\n"
       "256), each run from an empty cache, and every token after a window's first is scored.\n"
       "Prints tokens, windows, the mean negative log-likelihood per token (nats), perplexity\n"
       "and tokens/s. --max-tokens scores only the first N tokens.\n\n"
       "Model options:\n" SY_MODEL_OPTIONS_HELP,
       PerplexityCommand},
      {"serve", "serve a model over an OpenAI-compatible HTTP API",
       "Usage: switchyard serve [--model DIR] [--host H] [--port P] [--scheduler KIND.NAME]\n"
       "                        [--max-batch-tokens N] [--kv-blocks N] [--max-waiting N]\n"
       "                        [--http-threads N] [--quantizer KIND.NAME] [--experts KIND.NAME]\n"
       "                        [--memory-limit GB] [--skip-plan-check]\n\n"
       "Plans the memory first, as 'switchyard plan' does, from the model's config.json and these\n"
       "options (the device's memory, bf16 on a GPU or f32 on the CPU with the --quantizer's\n"
       "experts, the KV cache --kv-blocks or the default gives, the scheduler's batch), and\n"
       "refuses a configuration that does not fit with the plan's figures, before reading any\n"
       "weight. Then loads the model and serves it until SIGTERM or Ctrl-C: POST /v1/completions "
       "and\n"
       "/v1/chat/completions (\"stream\": true for server-sent events), GET /v1/models, /health\n"
       "and /metrics (Prometheus). Requests are batched continuously over a paged KV cache. "
       "Prints\n"
       "\"serving MODEL on http://HOST:PORT\" once it listens. The first signal drains: requests "
       "in\n"
       "flight finish, new ones get 503; a second signal aborts them. See docs/serving.md.\n\n"
       "Expert-parallel: 'switchyard launch -n N -- serve ...' shards the experts over N rank\n"
       "processes; rank 0 serves HTTP, the others lend their experts to its steps, and a rank\n"
       "that dies fails the group's requests with its name (docs/serving.md).\n\n"
       "Options:\n"
       "  --host H               address to listen on (default 127.0.0.1; 0.0.0.0: every "
       "interface)\n"
       "  --port P               TCP port (default 8000; 0: any free port)\n"
       "  --scheduler KIND.NAME  the batch scheduler (default scheduler.continuous; "
       "scheduler.fcfs)\n"
       "  --max-batch-tokens N   tokens computed per step (default: the scheduler's)\n"
       "  --kv-blocks N          KV-cache blocks of 16 tokens (default: as many as 256 MiB holds)\n"
       "  --max-waiting N        queued requests before new ones get 429 (default 512)\n"
       "  --http-threads N       connections served at once (default 128)\n"
       "  --memory-limit GB      plan against this much memory, not all the device has (the\n"
       "                         host's MemTotal, or the GPU's total; a container's limit is\n"
       "                         not read)\n"
       "  --skip-plan-check      load and serve without planning the memory first\n\n"
       "Model options:\n" SY_MODEL_OPTIONS_HELP,
       ServeCommand},
      {"bench",
       "benchmarks: quantization error, MoE layer and model decode speed, a serving load, EPLB, "
       "all-to-all",
       "Usage: switchyard bench quant [--rows R] [--cols C]\n"
       "       switchyard bench moe [--device cpu] [--experts E] [--hidden H] [--intermediate I]\n"
       "                            [--top-k K] [--tokens 1,16,64,256] [--quantizer KIND.NAME]\n"
       "                            [--iterations N]\n"
       "       switchyard bench moe --device cuda [--shape "
       "mixtral-8x7b|qwen3-30b-a3b|deepseek-v3|all]\n"
       "                            [--tokens 1,16,64,256,4096] [--dtype bf16|fp8|int4] [--torch "
       "auto|off]\n"
       "                            [--path auto|decode|prefill] [--token-tiles 0|1|2|4|8] [--pdl "
       "on|off]\n"
       "                            [--fp8-activations on|off] [--block-m 0|64|128|256]\n"
       "                            [--half-tiles auto|on|off] [--raster-group 0|1|2|4|8]\n"
       "                            [--row-groups R|G/D] (R: 0|1|2|4|8)\n"
       "       switchyard bench decode [--model DIR|PRESET] [--device cuda] [--weights random]\n"
       "                               [--layers N] [--batch 1,16,64,256] [--context 512]\n"
       "                               [--steps 32] (under launch -n N: expert-parallel, each "
       "rank\n"
       "                               decoding its own batch; --comm K.N, --redundant-experts "
       "N,\n"
       "                               --dispatch-dtype D, --rebalance-interval N: EPLB's "
       "moves\n"
       "                               are logged and summed up after the table)\n"
       "       switchyard bench serve [--url URL] [--requests N] [--concurrency C]\n"
       "                              [--input-tokens L] [--output-tokens M] [--model NAME]\n"
       "                              [--seed S] [--vocab V] [--timeout S] [--json]\n"
       "       switchyard bench eplb [--shape NAME] [--skew S] [--tokens T] [--seed S]\n"
       "                             [--trace FILE | --text FILE [--model DIR] [--text-tokens N]]\n"
       "                             [--ranks R] [--nodes N] [--redundant N] [--groups G]\n"
       "                             [--policy auto|hierarchical|global]\n"
       "                             [--rebalance-interval N [--rebalance-window W]] (with "
       "--text)\n"
       "       switchyard launch -n N -- bench a2a [--comm KIND.NAME,...] [--tokens 128,256,...]\n"
       "                             [--hidden H] [--top-k K] [--experts E] [--dtype bf16,fp8]\n"
       "                             [--device cpu|cuda] [--warmup N] [--iters N] [--seed S]\n\n"
       "quant: each weight format's relative error beside bf16's, on random weights and on\n"
       "       weights with outliers, and the error it causes in a matmul's output.\n"
       "moe:   one MoE layer (gate, router.softmax_topk, experts.cpu) per token count: latency,\n"
       "       tokens/s and GFLOP/s beside this machine's measured f32 GEMM peak. --device cuda:\n"
       "       the whole layer at a model's full shape on the GPU (CUDA graph): weights TB/s,\n"
       "       TFLOP/s, % of roofline, beside torch's _grouped_mm layer when torch is installed.\n"
       "decode: the whole model's decode steps at each batch size (after prefilling --context\n"
       "       tokens per sequence): ms per step and tokens/s beside the weight-streaming bound,\n"
       "       the bytes a step reads (dense weights, the experts its tokens touch, the KV cache)\n"
       "       over the memory bandwidth (H200: 4.8 TB/s; CPU: measured memcpy).\n"
       "serve: a load on an OpenAI-compatible server (default http://127.0.0.1:8000): N streamed\n"
       "       /v1/completions requests (default 100) from C connections (default 8), each a\n"
       "       random prompt of exactly L token ids drawn from [0, V) (defaults 128, 256) and M\n"
       "       generated tokens (default 128, ignore_eos). Prints requests/s, output and total\n"
       "       tokens/s, and mean/P50/P90/P99 of the time to first token (TTFT), inter-token\n"
       "       latency (ITL) and request latency (E2E); --json for machine output. The model\n"
       "       defaults to the server's first in /v1/models. Exits 1 when any request failed.\n"
       "eplb:  DeepSeek's expert-parallel load balancer on a per-expert load: per MoE layer, the\n"
       "       max/mean tokens per rank with experts sharded contiguously (before) and with "
       "EPLB's\n"
       "       replicas placed (after), and the algorithm's time. The load: a routing trace\n"
       "       (--trace), the model (--model, default the built-in one) run over --text, or by\n"
       "       default T tokens (default 4096) x top-k routed by a Zipf law of exponent S "
       "(default\n"
       "       1.0, expert order shuffled per layer by --seed) at the shape of --shape (a preset\n"
       "       such as mixtral-8x7b, qwen3-30b-a3b, deepseek-v3 (default), or a config.json).\n"
       "       R ranks (default 8) on N nodes (default 1), N redundant slots (default R), G\n"
       "       expert groups for the hierarchical policy (default N); auto: hierarchical when G\n"
       "       splits the experts and N splits G, else global. With --rebalance-interval N\n"
       "       (and --text): online, each 256-token window a step through the online rebalancer\n"
       "       (every N steps over the last W, default 1000): each rebalance's max/mean before\n"
       "       -> after, and each step's max/mean under contiguous sharding, the initial\n"
       "       placement kept, and the placement in force online. See docs/eplb.md.\n"
       "a2a:   expert-parallel dispatch and combine across the ranks of a group, per comm backend\n"
       "       (default: every one that can run here), payload dtype (bf16: 2H bytes a row; fp8:\n"
       "       H e4m3 bytes + an f32 scale per 128) and tokens per rank (default 128..16384 on\n"
       "       CUDA, 128,512,2048 on the CPU): seeded top-K routing over E experts (default 8 of\n"
       "       256, H=7168) sharded contiguously, each token sent once per rank holding one of\n"
       "       its experts; combine returns bf16 rows. Median dispatch and combine times (max\n"
       "       over ranks), MB and GB/s a rank sends the others, beside issue 6's targets; with\n"
       "       torch and GPUs, torch's NCCL all_to_all_single on the same exchange. Default\n"
       "       device cuda:LOCAL_RANK when a GPU exists, 5 warm-up and 20 timed iterations.\n",
       BenchCommand},
      {"make-model", "write a small Hugging Face MoE model with random weights",
       "Usage: switchyard make-model (--arch ARCH | --preset NAME) [options] --out DIR\n\n"
       "Writes a checkpoint that transformers and switchyard load, for tests and benchmarks:\n"
       "config.json, generation_config.json, tokenizer.json (byte-level BPE, merges learned from\n"
       "a built-in English text, the family's special tokens at the end of the vocabulary) and\n"
       "model.safetensors (or shards + model.safetensors.index.json). Weights are N(0, 0.02),\n"
       "norms 1; the same options and seed always write the same bytes. DIR is created and\n"
       "must be empty. Prints the files written with their tensors, parameters and bytes.\n\n"
       "Options:\n"
       "  --arch ARCH          mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v3 or gpt_oss\n"
       "                       (starts from tiny-ARCH)\n"
       "  --preset NAME        tiny-mixtral, tiny-qwen2-moe, tiny-qwen3-moe or tiny-olmoe:\n"
       "                       2 layers, hidden 64, 8 experts, top-2, 4 heads, 2 KV heads,\n"
       "                       vocab 512; tiny-deepseek-v3: 3 layers (1 dense), MLA, YaRN,\n"
       "                       8 experts in 4 groups, a shared expert; tiny-gpt-oss: sliding\n"
       "                       window 4 then full attention, sinks, biased experts\n"
       "  --layers N           decoder layers\n"
       "  --hidden H           hidden size\n"
       "  --intermediate I     each expert's intermediate size\n"
       "  --experts E          experts per layer\n"
       "  --top-k K            experts per token\n"
       "  --heads N            attention heads\n"
       "  --kv-heads N         key/value heads (must divide --heads)\n"
       "  --vocab V            vocabulary size (at least 256 + the special tokens)\n"
       "  --seed S             random seed (default 0)\n"
       "  --dtype f32|bf16     weight type (default f32)\n"
       "  --fp8                deepseek_v3: layer projections as fp8 e4m3 with 128x128-block\n"
       "                       weight_scale_inv, as DeepSeek publishes them\n"
       "  --mxfp4              gpt_oss: experts as MXFP4 blocks and scales, as OpenAI\n"
       "                       publishes them\n"
       "  --shards N           split the weights over N files with an index (default 1)\n"
       "  --out DIR            where to write the model (required)\n",
       MakeModelCommand},
      {"plan", "plan GPU memory: weights, KV cache, activations, GPU counts, expert placement",
       "Usage: switchyard plan MODEL [--gpu NAME] [--gpu-memory GB] [--gpus N] [--ep N]\n"
       "                       [--precision P] [--quantize experts|linear] [--kv-dtype T]\n"
       "                       [--context TOKENS] [--concurrency N] [--max-batch-tokens N]\n"
       "                       [--reserve GB] [--redundant N] [--json]\n\n"
       "Plans the GPU memory to serve MODEL: a config.json, a model folder holding one, or a\n"
       "preset (mixtral-8x7b, mixtral-8x22b, qwen3-30b-a3b, qwen3-235b-a22b, deepseek-v3,\n"
       "kimi-k2, gpt-oss-120b). Prints the parameters per part, the memory per GPU (weights,\n"
       "KV cache, activations, runtime reserve, headroom), the fewest GPUs per weight precision\n"
       "and the experts each expert-parallel rank holds. Attention and the other non-expert\n"
       "weights are replicated on every GPU (data parallel); routed experts are sharded over EP\n"
       "ranks. Sizes are GB = 10^9 bytes. See docs/plan.md for the assumptions.\n\n"
       "Options:\n"
       "  --gpu NAME             h200 (141 GB, the default), h100 (80), a100-80g (80), l40s (48)\n"
       "  --gpu-memory GB        memory per GPU, instead of the preset's\n"
       "  --gpus N               GPUs (default 8)\n"
       "  --ep N                 expert-parallel size; must divide --gpus (default: --gpus)\n"
       "  --precision P          weights: bf16, fp8, int8, int4 or mxfp4 (default: the\n"
       "                         checkpoint's quantization_config, else bf16)\n"
       "  --quantize WHAT        what P applies to: experts (routed and shared) or linear (every\n"
       "                         decoder projection too); default: experts, linear for fp8\n"
       "                         checkpoints\n"
       "  --kv-dtype T           KV cache: bf16 (default) or fp8\n"
       "  --context TOKENS       tokens per sequence, prompt and output (default: the model's\n"
       "                         max_position_embeddings)\n"
       "  --concurrency N        sequences in flight over all GPUs (default 1)\n"
       "  --max-batch-tokens N   tokens one GPU runs per step, for activations (default 8192)\n"
       "  --reserve GB           CUDA context, workspaces, comm buffers per GPU (default 2)\n"
       "  --redundant N          extra expert replicas, dealt round-robin over the ranks\n"
       "  --json                 the plan as JSON (bytes and parameters) instead of tables\n",
       PlanCommand},
      {"ab", "A/B test two MoE pipelines: quality, expert load and speed side by side",
       "Usage: switchyard ab [--model DIR] --a SPEC --b SPEC [--prompts FILE] [--text FILE]\n"
       "                     [--text-tokens N] [--window N] [--max-tokens N] [--html FILE]\n"
       "                     [--json FILE]\n\n"
       "Loads the model twice, once per side, runs both on the same prompts and prints three\n"
       "tables: quality of B against A (perplexity, mean KL(A||B) of the next-token\n"
       "distributions at every prompt position, top-1 agreement, greedy-continuation agreement\n"
       "and mean matching prefix), speed (greedy decode tokens/s, per-token P50/P90/P99) and\n"
       "load (routing slots per expert per MoE layer, max/mean, CV, hot experts, dropped).\n"
       "A side is a comma list of key=value; an omitted side is the model as loaded:\n"
       "  router=K.N        every MoE layer's router (e.g. router.hash)\n"
       "  quantizer=K.N     expert-weight quantizer (quantizer.int4, quantizer.fp8, ...; none)\n"
       "  experts=K.N       the experts component (default experts.cpu)\n"
       "  expert_cache=N    its cacheExperts: experts.cuda keeps N of a layer's experts on the\n"
       "                    GPU, the rest in host memory (docs/expert-offload.md)\n"
       "  capacity=F        capacity factor: each expert takes at most ceil(F*tokens*k/experts)\n"
       "                    slots per forward; overflow=drop (default) or overflow=reroute\n"
       "  comm=K.N          expert-parallel: the experts sharded over ranks=N ranks (threads of\n"
       "                    this process, default 1) that exchange tokens through this comm\n"
       "                    backend (comm.local: 1 rank; comm.pcie, comm.ucx: any number)\n"
       "e.g. switchyard ab --a quantizer=none --b quantizer=quantizer.int4 --html ab.html\n"
       "     switchyard ab --a comm=comm.local --b comm=comm.pcie,ranks=2\n"
       "See docs/ab.md.\n\n"
       "Options:\n"
       "  --model DIR        a Hugging Face folder (default: the built-in model)\n"
       "  --a SPEC, --b SPEC the two sides (A is the baseline)\n"
       "  --prompts FILE     one prompt per line, or FILE.jsonl of {\"prompt\": ...} requests\n"
       "                     (default: 8 built-in documentation-style prompts)\n"
       "  --text FILE        held-out text for perplexity, as 'switchyard perplexity' reads it\n"
       "                     (default: the prompts themselves)\n"
       "  --text-tokens N    score at most the first N tokens of --text (default 4096)\n"
       "  --window N         perplexity window on --text (default 256)\n"
       "  --max-tokens N     greedy continuation length per prompt (default 32)\n"
       "  --html FILE        write a self-contained HTML report with SVG plots\n"
       "  --json FILE        write the raw numbers as JSON\n",
       AbCommand},
      {"launch", "run N ranks of a command as one expert-parallel group", kLaunchUsage,
       LaunchCommand},
      {"comm-check", "check a comm backend's all-to-all and all-reduce across ranks",
       kCommCheckUsage, CommCheckCommand},
  };
  return commands;
}

std::shared_ptr<ComponentRegistry> LoadPlugins(const ParsedArgs& args, bool warn_skipped) {
  if (auto level = ParseLogLevel(args.Get("log"))) SetLogThreshold(*level);
  std::vector<std::string> path = DefaultPluginSearchPath();
  for (const std::string& dir : args.GetAll("plugin-path")) path.push_back(dir);
  auto registry = std::make_shared<ComponentRegistry>();
  registry->Discover(path);
  if (warn_skipped) {
    for (const PluginLoadError& e : registry->load_errors())
      Log(LogLevel::kWarning, "plugins", e.message);
  }
  return registry;
}

int UsageError(const char* command, absl::string_view message) {
  std::fprintf(stderr, "switchyard %s: %.*s\nRun 'switchyard %s --help' for usage.\n", command,
               static_cast<int>(message.size()), message.data(), command);
  return 2;
}

int PrintUsage(const char* command) {
  for (const Command& c : Commands()) {
    if (std::strcmp(c.name, command) == 0) std::printf("%s\n%s", c.usage, kCommonHelp);
  }
  return 0;
}

}  // namespace sy::cli

int main(int argc, char** argv) {
  using sy::cli::Commands;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2) return sy::cli::PrintUsage(args[1].c_str());
    sy::cli::PrintOverview();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("switchyard %s (plugin ABI %d.%d)\n", SY_VERSION, SY_ABI_MAJOR, SY_ABI_MINOR);
    return 0;
  }
  for (const auto& command : Commands()) {
    if (args[0] == command.name) return command.run({args.begin() + 1, args.end()});
  }
  std::fprintf(stderr, "switchyard: unknown command '%s'\n\n", args[0].c_str());
  sy::cli::PrintOverview();
  return 2;
}
