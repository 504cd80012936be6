#!/bin/bash
# Bad input: exit code 2 and one line on standard error that names the
# problem, before anything starts (no "ready", nothing listening).
. "$(dirname "$0")/../lib.sh"

start_peer --tcp-echo --udp-reply
tcp_busy=$(peer_port tcp-echo)
udp_busy=$(peer_port udp-reply)
good="tcp:127.0.0.1:0=127.0.0.1:$tcp_busy"
script=$FIXTURES/record.lua
printf 'return {\n  send = function(b, done) done(true) end,\n  filter = 42 +\n}\n' >"$TMP/broken.lua"

# expect_bad PATTERN ARGS...: exit 2, one line matching PATTERN.
expect_bad() {
  local pattern=$1 rc=0
  shift
  "$PROXY" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
  if [ "$rc" != 2 ]; then
    echo "exit status $rc, want 2: $*" >&2
    return 1
  fi
  if [ "$(wc -l <"$TMP/err")" != 1 ] || ! grep -q -- "$pattern" "$TMP/err" || [ -s "$TMP/out" ]; then
    echo "want one line matching '$pattern', got:" >&2
    cat "$TMP/err" >&2
    return 1
  fi
}

check "no arguments" expect_bad "--script is required"
check "no --listen" expect_bad "at least one --listen" --script "$script"
check "a listen spec without upstream" expect_bad "--listen 'tcp:127.0.0.1:80': no '=UPSTREAM'" \
  --script "$script" --listen tcp:127.0.0.1:80
check "an unknown protocol" expect_bad "--listen 'sctp:" --script "$script" --listen "sctp:127.0.0.1:0=127.0.0.1:80"
check "a port out of range" expect_bad "bad listen address" --script "$script" --listen "tcp:127.0.0.1:70000=127.0.0.1:80"
check "upstream port 0" expect_bad "bad upstream address" --script "$script" --listen "tcp:127.0.0.1:0=127.0.0.1:0"
long_host=$(printf '%0300d' 0)
check "a listen host longer than 255 bytes (it once overflowed the spec)" expect_bad "bad listen address" \
  --script "$script" --listen "tcp:$long_host:0=127.0.0.1:80"
check "a bracketed upstream host longer than 255 bytes" expect_bad "bad upstream address" \
  --script "$script" --listen "tcp:127.0.0.1:0=[$long_host]:80"
check "a --metrics host longer than 255 bytes (it once overflowed the stack)" expect_bad "--metrics '" \
  --script "$script" --listen "$good" --metrics "$long_host:0"
check "an IPv6 address without brackets" expect_bad "bad upstream address" --script "$script" --listen "tcp:127.0.0.1:0=::1:80"
check "a resource that is not a number" expect_bad "resource must be an integer" --script "$script" --listen "$good,resource=x"
check "an unknown spec parameter" expect_bad "unknown parameter 'weight=2'" --script "$script" --listen "$good,weight=2"
check "a resource given twice" expect_bad "resource is given twice" --script "$script" --listen "$good,resource=1,resource=2"
check "a resource past 64 bits" expect_bad "resource must be an integer from -9223372036854775808 to 9223372036854775807" \
  --script "$script" --listen "$good,resource=9223372036854775808"
check "an empty parameter" expect_bad "an empty parameter" --script "$script" --listen "$good,resource=1,"
check "a directory as the script" expect_bad "--script '$TMP': is a directory, not a script file" \
  --script "$TMP" --listen "$good"
check "a host that does not resolve" expect_bad "cannot resolve 'no-such-host.invalid'" \
  --script "$script" --listen "tcp:127.0.0.1:0=no-such-host.invalid:80"
check "a TCP port in use" expect_bad "--listen tcp:127.0.0.1:$tcp_busy: address already in use" \
  --script "$script" --listen "tcp:127.0.0.1:$tcp_busy=127.0.0.1:80"
check "a UDP port in use" expect_bad "--listen udp:127.0.0.1:$udp_busy: address already in use" \
  --script "$script" --listen "udp:127.0.0.1:$udp_busy=127.0.0.1:80"
check "a metrics port in use" expect_bad "--metrics 127.0.0.1:$tcp_busy: address already in use" \
  --script "$script" --listen "$good" --metrics "127.0.0.1:$tcp_busy"
check "an unreadable script" expect_bad "$TMP/missing.lua" --script "$TMP/missing.lua" --listen "$good"
check "a script with a syntax error: file and line" expect_bad "broken.lua:4:" --script "$TMP/broken.lua" --listen "$good"
check "a bad --drain" expect_bad "--drain 'soon'" --script "$script" --listen "$good" --drain soon
check "a bad --log-level" expect_bad "--log-level 'loud'" --script "$script" --listen "$good" --log-level loud
check "a --spool-max-bytes too small" expect_bad "--spool-max-bytes '1000': want bytes from 65536" \
  --script "$script" --listen "$good" --spool "$TMP/spool" --spool-max-bytes 1000
check "--spool-max-bytes without --spool" expect_bad "--spool-max-bytes needs --spool" \
  --script "$script" --listen "$good" --spool-max-bytes 1000000
touch "$TMP/file"
check "a spool that cannot be made" expect_bad "spool_dir $TMP/file/spool: cannot create it: not a directory" \
  --script "$script" --listen "$good" --spool "$TMP/file/spool"
check "an unknown option" expect_bad "unknown option '--color'" --script "$script" --listen "$good" --color red
check "an option without its value" expect_bad "--script needs a value" --listen "$good" --script

# A script whose returned table raises when the core reads a field: LuaJIT
# once ended the process from inside gatelog_new, exit 1 and no word. The
# proxy says something either way.
printf 'return setmetatable({}, { __index = function(t, k) error("no " .. k) end })\n' >"$TMP/panic.lua"
says_why() {
  local rc=0
  "$PROXY" --script "$TMP/panic.lua" --listen "$good" >/dev/null 2>"$TMP/err" </dev/null || rc=$?
  [ "$rc" != 0 ] && grep -q "^gatelog-proxy: " "$TMP/err"
}
check "a script that raises outside a protected call: a failure, with a message" says_why

help_ok() { "$PROXY" --help >"$TMP/help" && grep -q "usage: gatelog-proxy --script PATH --listen SPEC" "$TMP/help"; }
check "--help prints the usage and exits 0" help_ok
done_testing
