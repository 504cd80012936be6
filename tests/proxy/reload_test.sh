#!/bin/bash
# SIGHUP reloads the policy without dropping an open connection: a
# connection open across the reload completes with all its bytes, and its
# record (and every later one) goes through the new script. A reload that
# fails keeps the running script and the proxy.
. "$(dirname "$0")/../lib.sh"

script=$TMP/policy.lua
cp "$FIXTURES/record.lua" "$script"
start_peer --tcp-echo
start_proxy --script "$script" --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)"
port=$(proxy_port 1)

# Half of 400000 bytes now, the rest after the reload.
"$PEER" tcp "127.0.0.1:$port" 400000 --wait-file "$TMP/go" >"$TMP/held.out" &
held=$!
PIDS="$PIDS $held"
wait_for 30 grep -q "ACCESS START" "$TMP/proxy.log" || fail "the held client did not connect"

sed -i 's/s.policy = "a"/s.policy = "b"/' "$script"
kill -HUP "$PROXY_PID"
check "SIGHUP reloads the script and says so" wait_for 30 grep -q "SIGHUP: reloaded $script" "$TMP/proxy.log"

touch "$TMP/go"
wait "$held" || fail "the held client failed"
check "the connection open across the reload completes, intact" \
  [ "$(field "$TMP/held.out" sent) $(field "$TMP/held.out" received) $(field "$TMP/held.out" intact)" = "400000 400000 yes" ]
"$PEER" tcp "127.0.0.1:$port" 1000 >"$TMP/after.out" || fail "a client after the reload failed"

echo 'return { send = ' >"$script" # a syntax error
kill -HUP "$PROXY_PID"
check "a failed reload is logged with the script's line" \
  wait_for 30 grep -q "SIGHUP: reload failed, the running script stays: .*policy.lua:" "$TMP/proxy.log"
"$PEER" tcp "127.0.0.1:$port" 1000 >"$TMP/broken.out" || fail "a client after the failed reload failed"
check "the proxy still forwards after a failed reload" [ "$(field "$TMP/broken.out" received)" = 1000 ]

check "the proxy exits 0" stop_proxy
for c in held after broken; do
  out=$TMP/$c.out
  check "$c: the record went through the new script, with all its bytes" \
    [ "$(record "$(local_port "$out")" | jq -r '"\(.policy) \(.bytesTx) \(.bytesRx) \(.reason)"')" = \
      "b $(field "$out" sent) $(field "$out" received) closed" ]
done
done_testing
