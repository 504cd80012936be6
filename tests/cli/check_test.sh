#!/bin/bash
# gatelog check: a valid policy prints what it makes of the sample
# sessions and exits 0; an invalid one (does not load, raises on the
# samples, bad config) exits 1 with the error's file and line.
. "$(dirname "$0")/../lib.sh"

# run_check SCRIPT: exit status in RC, output in $TMP/out and $TMP/err.
run_check() {
  RC=0
  "$CLI" check "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# failed_with STATUS PATTERN: the last run exited STATUS and said PATTERN.
failed_with() { [ "$RC" = "$1" ] && grep -q -- "$2" "$TMP/err"; }

run_check "$FIXTURES/policy.lua"
check "a valid policy: exit 0" [ "$RC" = 0 ]
check "it prints the kept samples' records as JSON lines" [ "$(jq -c . "$TMP/out" | wc -l)" = 2 ]
check "with what enrich added" [ "$(jq -r .reason "$TMP/out" | sort -u)" = closed ]
check "TCP over IPv4 and UDP over IPv6 samples" \
  [ "$(jq -r '"\(.protocol) \(.sourceAddr) \(.bytesTx) \(.bytesRx)"' "$TMP/out" | sort | tr '\n' ,)" = \
    "tcp 203.0.113.7:51234 517 4380,udp [2001:db8::1]:5000 1200 800," ]
check "it says the DNS sample was filtered out" \
  grep -q "sample 3, a DNS query (udp 192.0.2.10:53000 -> 10.0.0.1:53): filtered out" "$TMP/err"
check "and names the script by its SHA-256" \
  grep -q "ok (sha256 $(sha256sum "$FIXTURES/policy.lua" | cut -c1-64)): 2 kept, 1 filtered out" "$TMP/err"

run_check "$GATELOG_SOURCE_DIR/scripts/default.lua"
check "the default script: exit 0, every sample kept, nothing written" \
  [ "$RC" = 0 -a "$(wc -l <"$TMP/out")" = 3 ]

printf 'return {\n  send = function(b, done)\n    done(true)\n  end,\n  filter = function(s) return s. end,\n}\n' >"$TMP/syntax.lua"
run_check "$TMP/syntax.lua"
check "a syntax error: exit 1 with file and line" failed_with 1 "syntax.lua:5:"

printf 'return {\n  send = function(b, done) done(true) end,\n  enrich = function(s)\n    if s.protocol == "udp" then error("no udp here") end\n  end,\n}\n' >"$TMP/raises.lua"
run_check "$TMP/raises.lua"
check "enrich raising on a sample: exit 1" [ "$RC" = 1 ]
check "with the error's file and line" grep -q "raises.lua:4: no udp here" "$TMP/err"

printf 'return {\n  filter = function(s) return s.destPort ~= 53 end,\n}\n' >"$TMP/nosend.lua"
run_check "$TMP/nosend.lua"
check "no send function: exit 1, said so" failed_with 1 "'send' must be a function"

printf 'return {\n  config = { batch_max = 0 },\n  send = function(b, done) done(true) end,\n}\n' >"$TMP/config.lua"
run_check "$TMP/config.lua"
check "a config value out of range: exit 1, names the key" failed_with 1 "config.batch_max"

run_check "$TMP"
check "a directory: exit 1, says so" failed_with 1 "gatelog check: $TMP: is a directory, not a script file"
mkfifo "$TMP/fifo.lua"
run_check "$TMP/fifo.lua"
check "a FIFO: exit 1 at once, says so" failed_with 1 "fifo.lua: is not a regular file (a FIFO, a device or a socket)"

# A script whose returned table raises when the core reads a field: the
# core once read it outside a protected call, and LuaJIT ended the process
# with exit 1 and no word. Whichever happens, check says something about
# the script.
printf 'return setmetatable({}, { __index = function(t, k) error("no " .. k) end })\n' >"$TMP/panic.lua"
run_check "$TMP/panic.lua"
check "a script that raises outside a protected call: exit 1, with a message" failed_with 1 "panic.lua"

run_check "$TMP/missing.lua"
check "a missing file: exit 1, names it" failed_with 1 "$TMP/missing.lua"
run_check
check "no script: exit 2" [ "$RC" = 2 ]
run_check --help
usage_shown() { [ "$RC" = 0 ] && grep -q "usage: gatelog check" "$TMP/out"; }
check "--help: exit 0 with the usage" usage_shown
done_testing
