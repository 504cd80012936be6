#!/bin/bash
# Bytes while a session runs: with active_timeout, a long TCP session's
# interim records carry the bytes nginx has moved so far (the module tells
# gatelog every second from nginx's counters), and its final record the
# total the client saw.
. "$(dirname "$0")/lib.sh"

start_peer --tcp-echo
port=$($PEER freeport)
write_conf "
  $GATELOG_DIRECTIVES
  gatelog_option active_timeout 1;
  server { listen 127.0.0.1:$port; proxy_pass 127.0.0.1:$(peer_port tcp-echo); proxy_half_close on;
           gatelog on; gatelog_resource 6; }"
start_nginx "$port" 2

# Half of 200,000 bytes, then a pause until $TMP/go exists, then the rest.
"$PEER" tcp "127.0.0.1:$port" 200000 --wait-file "$TMP/go" >"$TMP/client.out" &
client=$!
PIDS="$PIDS $client"
interim_with_bytes() {
  jq -e -s 'map(select(.final == false and .bytesTx == 100000 and .bytesRx == 100000)) | length > 0' \
    "$GATELOG_OUTPUT" >/dev/null 2>&1
}
check "an interim record carries the bytes moved so far" wait_for 30 interim_with_bytes
touch "$TMP/go"
wait "$client" || fail "the client failed"
grep -q "sent=200000 received=200000 intact=yes" "$TMP/client.out" || fail "client: $(cat "$TMP/client.out")"
final_has_total() {
  jq -e -s 'map(select(.final == true)) | length == 1 and .[0].bytesTx == 200000 and .[0].bytesRx == 200000' \
    "$GATELOG_OUTPUT" >/dev/null 2>&1
}
check "the final record has the total the client saw" wait_for 30 final_has_total
check "one session id" [ "$(jq -r .sessionId "$GATELOG_OUTPUT" | sort -u | wc -l)" = 1 ]
stop_nginx QUIT
done_testing
