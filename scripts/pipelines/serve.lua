-- Serve a model over the OpenAI API with the MoE router of your choice — the one line a
-- routing experiment changes.
--
--   switchyard run scripts/pipelines/serve.lua [PORT] [ROUTER] [MODEL_DIR] [COMM]
--   switchyard launch -n 2 -- run scripts/pipelines/serve.lua 8000 "" "" comm.pcie
--
--   PORT       default 8000 (0: any free port; the "serving" line says which)
--   ROUTER     e.g. router.hash or router.uniform_random; default: the model's own
--   MODEL_DIR  default: the built-in model
--   COMM       under switchyard launch, the expert-parallel backend; default comm.auto. Rank 0
--              serves, the other ranks lend it their experts
--
-- Stop it with Ctrl-C or SIGTERM: requests in flight finish first.
local sy = require "switchyard"

local port = tonumber(arg[1]) or 8000
local router = arg[2] ~= "" and arg[2] or nil
local dir = arg[3] ~= "" and arg[3] or nil
local comm = arg[4] ~= "" and arg[4] or nil

local model = sy.load_model(dir, { router = router, comm = comm })
local preempted = 0
local engine = sy.engine {
  model = model,
  scheduler = sy.component("scheduler.continuous", { max_batch_tokens = 512 }),
  -- Runs between steps: here, count preemptions and say when the KV cache was short.
  on_step = function(report)
    if report.preempted > 0 then
      preempted = preempted + report.preempted
      io.stderr:write(string.format("step %d: preempted %d (KV blocks %d/%d)\n", report.step,
        report.preempted, report.kvBlocksUsed, report.kvBlocksTotal))
    end
  end,
}
io.stderr:write(string.format("model %s, router %s\n", model:name(), router or "(the model's own)"))
sy.serve { engine = engine, port = port }
io.stderr:write(string.format("drained; %d preemptions in all\n", preempted))
