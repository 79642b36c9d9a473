#!/usr/bin/env bash
# End-to-end check of the out-of-tree plugin SDK: install Switchyard, build
# examples/plugin_template against the installed package only, and drive the plugin through
# the installed CLI.
#
#   tests/e2e/out_of_tree_plugin.sh SWITCHYARD_BUILD_DIR SCRATCH_DIR
#
# SWITCHYARD_BUILD_DIR must already be built. SCRATCH_DIR receives prefix/ (the install),
# template-build/ and the scripts; its previous prefix/ and template-build/ are removed.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SWITCHYARD_BUILD_DIR SCRATCH_DIR" >&2
  exit 2
fi
build_dir=$1
scratch=$(mkdir -p "$2" && cd "$2" && pwd)
template_dir=$(cd "$(dirname "$0")/../../examples/plugin_template" && pwd)
prefix=$scratch/prefix
template_build=$scratch/template-build
cli=$prefix/bin/switchyard

fail() {
  echo "out-of-tree plugin: FAIL: $*" >&2
  exit 1
}

# Expects the file $1 to contain the fixed string $2.
expect() {
  grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "expected '$2' in $1"; }
}

rm -rf "$prefix" "$template_build"
# Only what this script passes explicitly, plus the installed tree, may be searched.
unset SWITCHYARD_PLUGIN_PATH SWITCHYARD_LUA_PATH

echo "== install Switchyard into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$scratch/install.log"
[[ -x $cli ]] || fail "no installed CLI at $cli"

echo "== build the plugin template against the installed package"
cmake -S "$template_dir" -B "$template_build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  >"$scratch/template-configure.log" || { cat "$scratch/template-configure.log" >&2; fail "configuring the template"; }
cmake --build "$template_build" >"$scratch/template-build.log" ||
  { cat "$scratch/template-build.log" >&2; fail "building the template"; }
[[ -f $template_build/example_round_robin.so ]] || fail "no $template_build/example_round_robin.so"

echo "== switchyard plugins (installed CLI)"
"$cli" plugins --plugin-path "$template_build" | tee "$scratch/plugins.txt"
expect "$scratch/plugins.txt" "round_robin"
expect "$scratch/plugins.txt" "example.round_robin"
expect "$scratch/plugins.txt" "softmax_topk"
if grep -q "Skipped" "$scratch/plugins.txt"; then fail "a plugin library failed to load"; fi

echo "== switchyard plugins --describe router.round_robin"
"$cli" plugins --plugin-path "$template_build" --describe router.round_robin | tee "$scratch/describe.txt"
expect "$scratch/describe.txt" "experts per token"

echo "== route through router.round_robin"
# E = 4 experts, k = 2, offset = 1: token t -> (2t + j + 1) mod 4, so token 0 -> 1,2 and
# token 1 -> 3,0, every weight 1/2.
cat >"$scratch/route.lua" <<'LUA'
local sy = require "switchyard"
local r = sy.component("router.round_robin", { k = 2, offset = 1 })
assert(r:top_k() == 2, "top_k")
local ids, w = r:route(sy.tensor({ { 0, 0, 0, 0 }, { 0, 0, 0, 0 } }))
for t, row in ipairs(ids:to_table()) do
  local ws = w:to_table()[t]
  print(string.format("token %d ids %d %d weights %.4f %.4f", t - 1, row[1], row[2], ws[1], ws[2]))
end
LUA
"$cli" run --plugin-path "$template_build" "$scratch/route.lua" | tee "$scratch/route.txt"
expected=$'token 0 ids 1 2 weights 0.5000 0.5000\ntoken 1 ids 3 0 weights 0.5000 0.5000'
[[ $(cat "$scratch/route.txt") == "$expected" ]] ||
  fail "routing output differs; expected:"$'\n'"$expected"

echo "== an out-of-range config is refused (k = 0)"
cat >"$scratch/bad_config.lua" <<'LUA'
local sy = require "switchyard"
sy.component("router.round_robin", { k = 0 })
print("created a router with k = 0")
LUA
status=0
"$cli" run --plugin-path "$template_build" "$scratch/bad_config.lua" >"$scratch/bad_config.txt" 2>&1 || status=$?
cat "$scratch/bad_config.txt"
[[ $status -eq 1 ]] || fail "k = 0: expected exit status 1, got $status"
expect "$scratch/bad_config.txt" "'k'"
expect "$scratch/bad_config.txt" "minimum"

echo "== the rotation on a longer batch, and the defaults"
cat >"$scratch/rotation.lua" <<'LUA'
local sy = require "switchyard"
-- E = 5, k = 3, offset = 7, 12 tokens: slot j of token t is (3t + j + 7) mod 5, weight 1/3.
local r = sy.component("router.round_robin", { k = 3, offset = 7 })
local rows = {}
for t = 1, 12 do rows[t] = { 0.5, -1, 2, 0, 3 } end
local ids, w = r:route(sy.tensor(rows))
local id_rows, w_rows = ids:to_table(), w:to_table()
assert(#id_rows == 12 and #id_rows[1] == 3, "expert_ids shape")
for t = 0, 11 do
  for j = 0, 2 do
    local want = (3 * t + j + 7) % 5
    assert(id_rows[t + 1][j + 1] == want,
      string.format("token %d slot %d: expert %d, want %d", t, j, id_rows[t + 1][j + 1], want))
    assert(math.abs(w_rows[t + 1][j + 1] - 1 / 3) < 1e-6, "weight")
  end
end
local defaults = sy.component("router.round_robin", {}):config()
assert(defaults.k == 2 and defaults.offset == 0, "defaults: k = 2, offset = 0")
print("rotation ok")
LUA
"$cli" run --plugin-path "$template_build" "$scratch/rotation.lua" | tee "$scratch/rotation.txt"
expect "$scratch/rotation.txt" "rotation ok"

# The host checks top_k against the experts before the call (the plugin checks again), so
# assert only that the error names the component and both numbers.
echo "== k larger than the number of experts is refused at route time (SWITCHYARD_PLUGIN_PATH)"
cat >"$scratch/too_many.lua" <<'LUA'
local sy = require "switchyard"
local r = sy.component("router.round_robin", { k = 5 })
r:route(sy.tensor({ { 0, 0, 0, 0 } }))
print("routed k = 5 over 4 experts")
LUA
status=0
SWITCHYARD_PLUGIN_PATH=$template_build "$cli" run "$scratch/too_many.lua" >"$scratch/too_many.txt" 2>&1 || status=$?
cat "$scratch/too_many.txt"
[[ $status -eq 1 ]] || fail "k = 5 over 4 experts: expected exit status 1, got $status"
expect "$scratch/too_many.txt" "router.round_robin"
expect "$scratch/too_many.txt" "5"
expect "$scratch/too_many.txt" "4"

echo "== the template's install rule puts the plugin where the installed CLI finds it"
cmake --install "$template_build" >"$scratch/template-install.log"
[[ -f $prefix/lib/switchyard/plugins/example_round_robin.so ]] ||
  fail "cmake --install did not put example_round_robin.so into $prefix/lib/switchyard/plugins"
"$cli" plugins | tee "$scratch/plugins-installed.txt"
expect "$scratch/plugins-installed.txt" "$prefix/lib/switchyard/plugins/example_round_robin.so"

echo "out-of-tree plugin: OK"
