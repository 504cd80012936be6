#!/bin/bash
# nginx -s reload ten times under steady traffic: old workers finish their
# sessions and deliver their records before they exit, new workers start
# a core of their own. Every session nginx's access log has has exactly
# one record, with its bytes; every session a client completed is there.
. "$(dirname "$0")/lib.sh"

start_peer --tcp-echo
port=$($PEER freeport)
write_conf "
  $GATELOG_DIRECTIVES
  $ACCESS_LOG_DIRECTIVES
  server { listen 127.0.0.1:$port; proxy_pass 127.0.0.1:$(peer_port tcp-echo); proxy_half_close on;
           gatelog on; gatelog_resource 5; }"
start_nginx "$port" 2

# Two clients, each making sessions one after another until stopped.
for c in 1 2; do
  "$PEER" tcp-loop "127.0.0.1:$port" 2000 >"$TMP/loop$c.out" &
  PIDS="$PIDS $!"
  eval "loop$c=$!"
done
done_lines() { cat "$TMP"/loop*.out | grep -c '^done' || true; }
more_done_than() { [ "$(done_lines)" -gt "$1" ]; }
for i in $(seq 1 10); do
  before=$(workers)
  seen=$(done_lines)
  nginx_cmd -s reload
  wait_for 60 new_generation "$before" || fail "reload $i: no new workers"
  wait_for 30 more_done_than "$((seen + 5))" || fail "reload $i: no traffic through new workers"
done
ok "ten reloads, traffic through every generation of workers"
kill "$loop1" "$loop2"
wait "$loop1" "$loop2" 2>/dev/null || true
stop_nginx QUIT

sessions=$(wc -l <"$TMP/access.log")
echo "# $sessions sessions, $(done_lines) completed by the clients"
check "at least 200 sessions" [ "$sessions" -ge 200 ]
check "as many records as sessions in nginx's access log" records_are "$sessions"
check "each session's record has its port and bytes" truth_matches
check "no session id twice" [ "$(jq -r .sessionId "$GATELOG_OUTPUT" | sort | uniq -d | wc -l)" = 0 ]
completed_found() {
  awk '$1 == "done" { print $2 " 2000 2000" }' "$TMP"/loop*.out | sort >"$TMP/done.sorted"
  [ -z "$(comm -23 "$TMP/done.sorted" "$TMP/records.sorted")" ]
}
check "every session a client completed has its record (2000 bytes each way)" completed_found
check "every record ended closed" [ "$(jq -r .reason "$GATELOG_OUTPUT" | sort -u)" = closed ]
done_testing
