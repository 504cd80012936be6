#!/bin/bash
# Concurrent TCP connections of different sizes through gatelog-proxy: each
# record's bytesTx and bytesRx equal what its client sent and received.
. "$(dirname "$0")/../lib.sh"

start_peer --tcp-reply
start_proxy --script "$FIXTURES/record.lua" \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-reply),resource=7"
port=$(proxy_port 1)

sizes="0 1 1000 65536 1000000 5000000"
i=0
cpids=""
for n in $sizes; do
  i=$((i + 1))
  "$PEER" tcp "127.0.0.1:$port" "$n" >"$TMP/client$i.out" &
  cpids="$cpids $!"
done
for p in $cpids; do wait "$p" || fail "a client failed"; done
check "the proxy exits 0 on SIGTERM" stop_proxy

i=0
for n in $sizes; do
  i=$((i + 1))
  out=$TMP/client$i.out
  sent=$(field "$out" sent)
  received=$(field "$out" received)
  check "client $i sent $n bytes" [ "$sent" = "$n" ]
  check "client $i received the whole reply, intact" \
    [ "$received" = "$(reply_size "$n")" -a "$(field "$out" intact)" = yes ]
  r=$(record "$(local_port "$out")")
  check "client $i has one record" [ "$(echo "$r" | grep -c sessionId)" = 1 ]
  check "client $i: bytesTx $sent, bytesRx $received" \
    [ "$(echo "$r" | jq -r '"\(.bytesTx) \(.bytesRx)"')" = "$sent $received" ]
  check "client $i: tcp, resource 7, upstream, closed" \
    [ "$(echo "$r" | jq -r '"\(.protocol) \(.resourceId) \(.destAddr) \(.reason)"')" = \
      "tcp 7 127.0.0.1:$(peer_port tcp-reply) closed" ]
done
check "no other records" [ "$(wc -l <"$GATELOG_OUTPUT")" = 6 ]
done_testing
