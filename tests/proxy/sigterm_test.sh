#!/bin/bash
# SIGTERM with connections open (and a UDP flow): the proxy stops
# accepting, the open sessions end with endReason "shutdown" carrying the
# bytes that moved, their records are delivered, and it exits 0; exit 1
# when records are lost.
. "$(dirname "$0")/../lib.sh"

start_peer --tcp-echo --udp-reply
start_proxy --script "$FIXTURES/record.lua" --metrics 127.0.0.1:0 --drain 10 \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)" \
  --listen "udp:127.0.0.1:0=127.0.0.1:$(peer_port udp-reply)"
port=$(proxy_port 1)

# Three clients send half of their bytes and wait for a file that never
# comes: their connections stay open.
total=0
cpids=""
for n in 2000 60000 1000000; do
  "$PEER" tcp "127.0.0.1:$port" "$n" --wait-file "$TMP/never" >"$TMP/client$n.out" &
  cpids="$cpids $!"
  total=$((total + n / 2))
done
PIDS="$PIDS $cpids"
"$PEER" udp "127.0.0.1:$(proxy_port 2)" 3 50 >"$TMP/udp.out" || fail "the UDP client failed"
# Wait until what they sent has been echoed back, so the counts are final.
check "three connections are open" wait_for 30 metric_is gatelog_tcp_open 3
check "their bytes have moved both ways" wait_for 30 \
  metric_is gatelog_proxy_rx_bytes_total $((total + 3 * $(reply_size 50)))

check "SIGTERM: the proxy exits 0" stop_proxy
check "it says every record was delivered" grep -q "stopped: 4 records sent, 0 lost" "$TMP/proxy.log"
for p in $cpids; do wait "$p" || fail "a client failed"; done
for n in 2000 60000 1000000; do
  out=$TMP/client$n.out
  check "client of $n bytes: cut after its half" [ "$(field "$out" sent)" = $((n / 2)) ]
  check "its record ends with shutdown and counts what moved" \
    [ "$(record "$(local_port "$out")" | jq -r '"\(.reason) \(.bytesTx) \(.bytesRx)"')" = \
      "shutdown $((n / 2)) $(field "$out" received)" ]
done
check "the UDP flow's record ends with shutdown too" \
  [ "$(record "$(local_port "$TMP/udp.out")" | jq -r '"\(.reason) \(.protocol) \(.bytesTx)"')" = "shutdown udp 150" ]
refused() { ! "$PEER" tcp "127.0.0.1:$port" 10 >/dev/null 2>&1; }
check "no connection is accepted after the stop" refused

# SIGINT stops the same way; records still undelivered at the drain
# deadline make the exit status 1.
start_proxy --script "$FIXTURES/never_done.lua" --drain 0.5 \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)"
"$PEER" tcp "127.0.0.1:$(proxy_port 1)" 10 >/dev/null || fail "the client failed"
kill -INT "$PROXY_PID"
rc=0
wait "$PROXY_PID" || rc=$?
check "SIGINT with a record that cannot be delivered: exit 1" [ "$rc" = 1 ]
check "and the log says it was lost" grep -q "stopped: 0 records sent, 1 lost" "$TMP/proxy.log"
done_testing
