#!/bin/bash
# nginx's stream module with ngx_stream_gatelog_module in front of
# gatelog-peer: 100 HTTP sessions with curl and 100 TCP sessions with the
# peer's client, 20 UDP flows, and an upstream that refuses. One record
# per session, with the client's address, the listen address as destAddr,
# the upstream as upstreamAddr, the server's resource, the bytes the
# client saw, and the end reason nginx's status gives.
. "$(dirname "$0")/lib.sh"

start_peer --http 5000 --tcp-reply --udp-reply
http_port=$($PEER freeport)
tcp_port=$($PEER freeport)
udp_port=$($PEER freeport)
refused_port=$($PEER freeport)
dead_port=$($PEER freeport) # nothing listens there
write_conf "
  $GATELOG_DIRECTIVES
  server { listen 127.0.0.1:$http_port; proxy_pass 127.0.0.1:$(peer_port http);
           gatelog on; gatelog_resource 7; }
  server { listen 127.0.0.1:$tcp_port; proxy_pass 127.0.0.1:$(peer_port tcp-reply);
           gatelog on; gatelog_resource \$server_port; }
  server { listen 127.0.0.1:$udp_port udp reuseport; proxy_pass 127.0.0.1:$(peer_port udp-reply);
           proxy_timeout 1s; gatelog on; gatelog_resource 9; }
  server { listen 127.0.0.1:$refused_port; proxy_pass 127.0.0.1:$dead_port;
           gatelog on; gatelog_resource 11; }
  server { listen 127.0.0.1:$($PEER freeport); proxy_pass 127.0.0.1:$dead_port; }"
start_nginx "$http_port" 2

# 100 curl sessions, 10 at a time: what each saw, from curl itself.
for i in $(seq 1 100); do
  curl -s -o /dev/null -w '%{local_port} %{size_request} %{size_header} %{size_download}\n' \
    "http://127.0.0.1:$http_port/$i" >"$TMP/curl$i.out" &
  batch_add $!
  [ $((i % 10)) != 0 ] || batch_wait || fail "a curl failed"
done
# 100 sessions of the peer's TCP client, sizes 0 to 99,000 bytes.
for i in $(seq 1 100); do
  "$PEER" tcp "127.0.0.1:$tcp_port" $(((i - 1) * 1000)) >"$TMP/tcp$i.out" &
  batch_add $!
  [ $((i % 10)) != 0 ] || batch_wait || fail "a TCP client failed"
done
# 20 UDP flows of 1 to 20 datagrams of 100 bytes.
for i in $(seq 1 20); do
  "$PEER" udp "127.0.0.1:$udp_port" "$i" 100 >"$TMP/udp$i.out" || fail "UDP client $i got no reply"
done
curl -s -o /dev/null "http://127.0.0.1:$refused_port/" && fail "the refused upstream answered"
# nginx ends each UDP session after proxy_timeout (1 s) of silence.
check "221 records" wait_for 60 records_are 221

# expect PROTO PORT WANT WHAT: the record of the PROTO session from
# 127.0.0.1:PORT to WANT's destAddr reads WANT: "protocol resourceId
# destAddr upstreamAddr bytesTx bytesRx reason". (A TCP and a UDP client
# may share a port, and so may two TCP clients of different listen ports:
# the kernel hands out a source port per destination.)
expect() {
  local got dest
  dest=$(echo "$3" | cut -d' ' -f3)
  got=$(jq -r --arg a "127.0.0.1:$2" --arg p "$1" --arg d "$dest" \
    'select(.sourceAddr == $a and .protocol == $p and .destAddr == $d) |
    "\(.protocol) \(.resourceId) \(.destAddr) \(.upstreamAddr) \(.bytesTx) \(.bytesRx) \(.reason)"' \
    "$GATELOG_OUTPUT")
  [ "$got" = "$3" ] || fail "$4: record '$got', want '$3'"
}
for i in $(seq 1 100); do
  read -r port req head body <"$TMP/curl$i.out"
  [ "$body" = 5000 ] || fail "curl $i got $body bytes of body"
  expect tcp "$port" "tcp 7 127.0.0.1:$http_port 127.0.0.1:$(peer_port http) $req $((head + body)) closed" "curl $i"
done
ok "100 curl sessions: one record each, addresses, resource, bytes, closed"

for i in $(seq 1 100); do
  out=$TMP/tcp$i.out
  [ "$(field "$out" intact)" = yes ] || fail "tcp client $i: reply not intact"
  expect tcp "$(local_port "$out")" "tcp $tcp_port 127.0.0.1:$tcp_port 127.0.0.1:$(peer_port tcp-reply) \
$(field "$out" sent) $(field "$out" received) closed" "tcp client $i"
done
ok "100 TCP sessions: one record each, resource from \$server_port, bytes"

for i in $(seq 1 20); do
  expect udp "$(local_port "$TMP/udp$i.out")" "udp 9 127.0.0.1:$udp_port 127.0.0.1:$(peer_port udp-reply) \
$((i * 100)) $((i * $(reply_size 100))) closed" "udp flow $i"
done
ok "20 UDP flows: one record each, bytes both ways"

refused=$(jq -c 'select(.resourceId == 11)' "$GATELOG_OUTPUT")
check "the refused upstream: one record, endReason upstream_failed, no bytes back" \
  [ "$(echo "$refused" | jq -r '"\(.reason) \(.upstreamAddr) \(.bytesRx)"')" = \
    "upstream_failed 127.0.0.1:$dead_port 0" ]
check "no session is logged twice" \
  [ "$(jq -r .sessionId "$GATELOG_OUTPUT" | sort | uniq -d | wc -l)" = 0 ]
stop_nginx QUIT
check "no record of the server without gatelog on" records_are 221
check "no error in nginx's log" [ "$(grep -c '\[\(alert\|emerg\|crit\)\]' "$NGINX_LOG")" = 0 ]
done_testing
