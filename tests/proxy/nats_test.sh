#!/bin/bash
# scripts/nats.lua under gatelog-proxy, to a JetStream server started here
# (nats-server -js on a free port, its own store directory) with a stream
# made through the JetStream API: every session's record is one message of
# the stream, on glp.<protocol>.<resourceId>, with a Nats-Msg-Id of
# <instance_id>-<sessionId>; /metrics counts them published and acked.
. "$(dirname "$0")/../lib.sh"
command -v nats-server >/dev/null || { echo "nats-server is not installed: skipped"; exit 77; }
export LUA_PATH="$GATELOG_SOURCE_DIR/spec/?.lua;$GATELOG_SOURCE_DIR/lua/?.lua;$GATELOG_SOURCE_DIR/lua/?/init.lua;;"
stream() { luajit "$FIXTURES/nats_stream.lua" "$@"; }

port=$("$PEER" freeport)
nats-server -js -a 127.0.0.1 -p "$port" -sd "$TMP/store" >"$TMP/nats.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 20 grep -q "Server is ready" "$TMP/nats.log" || fail "nats-server did not start"
stream create "$port" PROXY 'glp.>'

start_peer --tcp-reply
GATELOG_NATS_URL=nats://127.0.0.1:$port GATELOG_NATS_SUBJECT='glp.{protocol}.{resourceId}' GATELOG_FLUSH_INTERVAL=0.2 \
  start_proxy --script "$GATELOG_SOURCE_DIR/scripts/nats.lua" --metrics 127.0.0.1:0 \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-reply),resource=5"
for i in 1 2 3 4 5; do
  "$PEER" tcp "127.0.0.1:$(proxy_port 1)" 100 >"$TMP/c$i.out" || fail "client $i failed"
  local_port "$TMP/c$i.out"
done | sort -n >"$TMP/ports.want"

check "every record acknowledged by JetStream" wait_for 30 metric_is gatelog_nats_acked_total 5
check "published once each" metric_is gatelog_nats_published_total 5
check "no duplicates, no errors" [ "$(metric gatelog_nats_duplicates_total)$(metric gatelog_nats_errors_total)" = 00 ]
stream dump "$port" PROXY >"$TMP/stream.ndjson"
check "the stream holds five messages" [ "$(wc -l <"$TMP/stream.ndjson")" = 5 ]
check "on the subject of their protocol and resource" [ "$(jq -r .subject "$TMP/stream.ndjson" | sort -u)" = glp.tcp.5 ]
check "each with its own Nats-Msg-Id: instance-sessionId" \
  [ "$(jq -r .id "$TMP/stream.ndjson" | grep -cE '^[0-9a-f]{16}-[0-9a-f]{16}$' | tr -d ' ')$(jq -r .id "$TMP/stream.ndjson" | sort -u | wc -l)" = 55 ]
check "the id names the record's session" \
  [ "$(jq -r '(.id | split("-")[1]) == (.data | fromjson | .sessionId)' "$TMP/stream.ndjson" | sort -u)" = true ]
jq -r '.data | fromjson | .sourceAddr' "$TMP/stream.ndjson" | sed 's/.*://' | sort -n >"$TMP/ports.got"
check "one message per client connection" cmp -s "$TMP/ports.want" "$TMP/ports.got"
check "the proxy stops cleanly" stop_proxy
done_testing
