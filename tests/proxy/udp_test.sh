#!/bin/bash
# UDP flows through gatelog-proxy: replies reach the right client, each
# flow's record has the bytes both ways, and idle flows end through
# gatelog's own timeout (5 s here: long enough to look at the open flows
# first, even on a loaded machine), after which the proxy closes their
# upstream sockets.
. "$(dirname "$0")/../lib.sh"
export TEST_UDP_IDLE=5

start_peer --udp-reply
start_proxy --script "$FIXTURES/record.lua" --metrics 127.0.0.1:0 \
  --listen "udp:127.0.0.1:0=127.0.0.1:$(peer_port udp-reply),resource=9"
port=$(proxy_port 1)
sockets() { find "/proc/$PROXY_PID/fd" -lname 'socket:*' | wc -l; }
# Conditions that wait_for re-evaluates on every try (an argument like
# "$(sockets)" would be expanded once, before the first).
sockets_are() { [ "$(sockets)" = "$1" ]; }
records_are() { [ "$(cat "$GATELOG_OUTPUT" 2>/dev/null | wc -l)" = "$1" ]; }
before=$(sockets)

# count size: three clients at once, each its own flow.
set -- "5 100" "40 1000" "1 1"
i=0
cpids=""
for spec in "$@"; do
  i=$((i + 1))
  "$PEER" udp "127.0.0.1:$port" $spec >"$TMP/client$i.out" &
  cpids="$cpids $!"
done
for p in $cpids; do wait "$p" || fail "a UDP client got no reply"; done
check "three flows were opened" metric_is gatelog_proxy_udp_flows_opened_total 3
check "and are open" metric_is gatelog_proxy_udp_flows_active 3
check "each flow has a socket toward the upstream" [ "$(sockets)" = $((before + 3)) ]

check "the flows end by gatelog's idle timeout" wait_for 30 metric_is gatelog_ended_idle_total 3
check "the proxy closes their flows" wait_for 30 metric_is gatelog_proxy_udp_flows_active 0
check "and their upstream sockets" wait_for 10 sockets_are "$before"
check "records are delivered" wait_for 30 records_are 3

i=0
for spec in "$@"; do
  i=$((i + 1))
  out=$TMP/client$i.out
  set -- $spec
  check "client $i sent $1 datagrams of $2 bytes" [ "$(field "$out" sent)" = $(($1 * $2)) ]
  check "client $i got its own replies" \
    [ "$(field "$out" received)" = $(($1 * $(reply_size "$2"))) -a "$(field "$out" intact)" = yes ]
  r=$(record "$(local_port "$out")")
  check "client $i: one udp record, resource 9, bytes both ways, endReason idle" \
    [ "$(echo "$r" | jq -r '"\(.protocol) \(.resourceId) \(.bytesTx) \(.bytesRx) \(.reason)"')" = \
      "udp 9 $(field "$out" sent) $(field "$out" received) idle" ]
done

# A flow that comes back after its session ended is a new session.
"$PEER" udp "127.0.0.1:$port" 2 10 >"$TMP/again.out" || fail "no reply"
check "a new flow opens after the old ones ended" metric_is gatelog_proxy_udp_flows_active 1
check "the proxy exits 0" stop_proxy
check "the open flow's record ends with shutdown" \
  [ "$(record "$(local_port "$TMP/again.out")" | jq -r '"\(.bytesTx) \(.reason)"')" = "20 shutdown" ]
done_testing
