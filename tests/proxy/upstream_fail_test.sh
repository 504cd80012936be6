#!/bin/bash
# An upstream that refuses, or does not answer within --connect-timeout:
# the client's connection is closed, the session is still logged and
# ended (with no bytes) with an endReason that says why, and the proxy
# counts the failure by kind.
. "$(dirname "$0")/../lib.sh"

start_peer --blackhole
closed_port=$("$PEER" freeport)
start_proxy --script "$FIXTURES/record.lua" --metrics 127.0.0.1:0 --connect-timeout 0.5 \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$closed_port" \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port blackhole)"

"$PEER" tcp "127.0.0.1:$(proxy_port 1)" 100 >"$TMP/refused.out" || fail "client 1 failed"
check "refused: the client gets nothing back" [ "$(field "$TMP/refused.out" received)" = 0 ]
check "refused: counted" metric_is gatelog_proxy_upstream_refused_total 1
check "refused: a warning names the upstream" grep -q "upstream 127.0.0.1:$closed_port: connection refused" "$TMP/proxy.log"

"$PEER" tcp "127.0.0.1:$(proxy_port 2)" 100 >"$TMP/timeout.out" || fail "client 2 failed"
check "timed out: the client gets nothing back" [ "$(field "$TMP/timeout.out" received)" = 0 ]
check "timed out: counted" metric_is gatelog_proxy_upstream_timeouts_total 1
check "timed out: a warning says so" grep -q "no answer within 0.5 s" "$TMP/proxy.log"
check "both sessions ended" metric_is gatelog_tcp_ended_total 2

check "the proxy exits 0" stop_proxy
for c in refused timeout; do
  check "$c: the session is logged, with no bytes and endReason $c" \
    [ "$(record "$(local_port "$TMP/$c.out")" | jq -r '"\(.bytesTx) \(.bytesRx) \(.reason)"')" = "0 0 $c" ]
done
done_testing
