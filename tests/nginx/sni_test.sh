#!/bin/bash
# ssl_preread: the TLS server name the client sent reaches the record as
# serverName (curl over https with SNI; the upstream is not TLS, so the
# handshake then fails, which is nothing to gatelog). Without SNI the
# record has no serverName.
. "$(dirname "$0")/lib.sh"

start_peer --tcp-reply
port=$($PEER freeport)
write_conf "
  $GATELOG_DIRECTIVES
  server { listen 127.0.0.1:$port; ssl_preread on; proxy_pass 127.0.0.1:$(peer_port tcp-reply);
           gatelog on; gatelog_resource 8; }"
start_nginx "$port" 2

curl -sk --max-time 5 --resolve "api.example.org:$port:127.0.0.1" "https://api.example.org:$port/" \
  >/dev/null || true
curl -sk --max-time 5 "https://127.0.0.1:$port/" >/dev/null || true # an IP: curl sends no SNI
check "two records" wait_for 30 records_are 2
check "the SNI session's record has serverName" \
  [ "$(jq -r 'select(.serverName) | .serverName' "$GATELOG_OUTPUT")" = api.example.org ]
check "the other has none" [ "$(jq -r 'select(.serverName == null) | .resourceId' "$GATELOG_OUTPUT")" = 8 ]
stop_nginx QUIT
done_testing
