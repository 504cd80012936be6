#!/bin/bash
# Half-close: a client that shuts down its write side still gets the
# upstream's reply. The tcp-reply upstream answers only after it has read
# EOF, so its reply proves the shutdown reached it; the tcp-echo upstream
# is still echoing when the client's EOF arrives behind the data.
. "$(dirname "$0")/../lib.sh"

start_peer --tcp-reply --tcp-echo
start_proxy --script "$FIXTURES/record.lua" \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-reply)" \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)"

"$PEER" tcp "127.0.0.1:$(proxy_port 1)" 300000 >"$TMP/reply.out" || fail "reply client failed"
check "the reply to a half-closed request comes back whole" \
  [ "$(field "$TMP/reply.out" received)" = "$(reply_size 300000)" -a "$(field "$TMP/reply.out" intact)" = yes ]

"$PEER" tcp "127.0.0.1:$(proxy_port 2)" 2000000 >"$TMP/echo.out" || fail "echo client failed"
check "the echo of a half-closed stream comes back whole" \
  [ "$(field "$TMP/echo.out" received)" = 2000000 -a "$(field "$TMP/echo.out" intact)" = yes ]

# Both sessions end once both directions are closed, without a SIGTERM.
for c in reply echo; do
  check "$c: the session ends when both directions are closed" wait_for 30 \
    grep -q "ACCESS END session=.* src=127.0.0.1:$(local_port "$TMP/$c.out") " "$TMP/proxy.log"
done
check "the proxy exits 0" stop_proxy
for c in reply echo; do
  out=$TMP/$c.out
  r=$(record "$(local_port "$out")")
  check "$c: the record has the bytes both ways, endReason closed" \
    [ "$(echo "$r" | jq -r '"\(.bytesTx) \(.bytesRx) \(.reason)"')" = \
      "$(field "$out" sent) $(field "$out" received) closed" ]
done
done_testing
