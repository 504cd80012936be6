#!/bin/bash
# nginx -s quit with sessions open: nginx lets them finish, and the
# exiting worker delivers their records before it exits. With
# worker_shutdown_timeout, nginx cuts the sessions still open when it
# expires: their records are delivered too.
. "$(dirname "$0")/lib.sh"

start_peer --tcp-reply
port=$($PEER freeport)
run_quit() { # WORKER_SHUTDOWN_TIMEOUT_LINE
  : >"$NGINX_LOG"
  write_conf "
  $GATELOG_DIRECTIVES
  server { listen 127.0.0.1:$port; proxy_pass 127.0.0.1:$(peer_port tcp-reply);
           proxy_half_close on; gatelog on; gatelog_resource 3; }" 2
  [ -z "$1" ] || sed -i "s/^events/$1\nevents/" "$NGINX_CONF"
  start_nginx "$port" 2
}
connected() { [ "$(grep -c 'proxy .* connected to' "$NGINX_LOG")" -ge "$1" ]; }

# Five clients send half of 10000 bytes and wait for $TMP/go.
run_quit ""
cpids=""
for i in 1 2 3 4 5; do
  "$PEER" tcp "127.0.0.1:$port" 10000 --wait-file "$TMP/go" >"$TMP/open$i.out" &
  cpids="$cpids $!"
done
wait_for 30 connected 5 || fail "five sessions did not open"
nginx_cmd -s quit
check "nginx shuts down gracefully" wait_for 30 grep -q "gracefully shutting down" "$NGINX_LOG"
check "no record while the sessions are open" records_are 0
touch "$TMP/go"
for p in $cpids; do wait "$p" || fail "a client failed"; done
wait "$NGINX_PID" || true
check "five records, delivered by the exiting worker" records_are 5
for i in 1 2 3 4 5; do
  out=$TMP/open$i.out
  check "session $i: closed, its bytes" [ "$(record "$(local_port "$out")" | jq -r '"\(.reason) \(.bytesTx) \(.bytesRx)"')" = \
    "closed $(field "$out" sent) $(field "$out" received)" ]
done

# Three clients that never finish: nginx cuts them after 1 s.
rm -f "$GATELOG_OUTPUT"
run_quit "worker_shutdown_timeout 1s;"
cpids=""
for i in 1 2 3; do
  "$PEER" tcp "127.0.0.1:$port" 10000 --wait-file "$TMP/never" >"$TMP/cut$i.out" &
  cpids="$cpids $!"
done
wait_for 30 connected 3 || fail "three sessions did not open"
nginx_cmd -s quit
wait "$NGINX_PID" || true
for p in $cpids; do wait "$p" || true; done
check "three records of the sessions nginx cut" records_are 3
for i in 1 2 3; do
  check "cut session $i: the half its client sent" \
    [ "$(record "$(local_port "$TMP/cut$i.out")" | jq -r .bytesTx)" = 5000 ]
done
done_testing
