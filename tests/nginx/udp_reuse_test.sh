#!/bin/bash
# A UDP client that keeps its port: with proxy_responses 1, nginx ends the
# session at the upstream's answer and starts the next datagram's session
# from the same address and port at once, before gatelog's thread has
# applied the previous end. Each nginx session has its own record, with
# its own id and bytes (the flow directory forgets a flow at the end call,
# not when the loop applies it).
. "$(dirname "$0")/lib.sh"

start_peer --udp-reply
udp_port=$($PEER freeport)
ready_port=$($PEER freeport)
write_conf "
  $GATELOG_DIRECTIVES
  $ACCESS_LOG_DIRECTIVES
  server { listen 127.0.0.1:$udp_port udp reuseport; proxy_pass 127.0.0.1:$(peer_port udp-reply);
           proxy_responses 1; proxy_timeout 5s; gatelog on; gatelog_resource 3; }
  server { listen 127.0.0.1:$ready_port; proxy_pass 127.0.0.1:$(peer_port udp-reply); }"
start_nginx "$ready_port" 2

# Three clients, 50 datagrams each, one socket (one port) per client.
for c in 1 2 3; do
  "$PEER" udp "127.0.0.1:$udp_port" 50 100 >"$TMP/udp$c.out" || fail "UDP client $c got no reply"
done
stop_nginx QUIT

sessions=$(wc -l <"$TMP/access.log")
echo "# $sessions sessions in nginx's access log"
check "nginx made a session of each datagram" [ "$sessions" = 150 ]
check "as many records as sessions" wait_for 30 records_are "$sessions"
check "each session's record has its port and bytes" truth_matches
check "no session id twice" [ "$(jq -r .sessionId "$GATELOG_OUTPUT" | sort | uniq -d | wc -l)" = 0 ]
check "three client ports" [ "$(jq -r .sourceAddr "$GATELOG_OUTPUT" | sort -u | wc -l)" = 3 ]
check "every record ended closed" [ "$(jq -r .reason "$GATELOG_OUTPUT" | sort -u)" = closed ]
done_testing
