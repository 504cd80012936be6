#!/bin/bash
# Per-worker spools with the sink down. kill -9 of a worker: the worker
# nginx starts in its place takes its spool directory and, once the sink
# is back, delivers the records the dead worker had spooled. nginx -s stop
# with the sink down: the next nginx delivers what the workers spooled,
# also of the sessions stop cut. Each session exactly once.
. "$(dirname "$0")/lib.sh"
SINK=$TMP/sink
export GATELOG_OUTPUT=$SINK/records.ndjson # no $SINK: every send fails

start_peer --tcp-reply
port=$($PEER freeport)
write_spool_conf "$port"
start_nginx "$port" 2

# sessions N FIRST: N sessions of the peer's client, their ports kept.
sessions() {
  for i in $(seq "$2" $(($2 + $1 - 1))); do
    "$PEER" tcp "127.0.0.1:$port" 3000 >"$TMP/s$i.out" || fail "client $i failed"
    local_port "$TMP/s$i.out" >>"$TMP/ports"
  done
}
# delivered: the client ports in the sink's records, one a line.
# (the first sink's, moved to $TMP/sink.1 for the stop, and the second's).
delivered() {
  cat "$TMP/sink.1/records.ndjson" "$GATELOG_OUTPUT" 2>/dev/null |
    jq -r '.records[].sourceAddr | sub(".*:"; "")'
}
all_delivered() { [ "$(delivered | sort -u | wc -l)" = "$(sort -u "$TMP/ports" | wc -l)" ]; }

sessions 40 1
check "each worker has its own spool directory" wait_for 10 test -d "$TMP/spool/w0" -a -d "$TMP/spool/w1"
wait_for 30 spool_settled || fail "nothing reached the spool"
before=$(workers)
for w in $before; do kill -9 "$w"; done
NGINX_WORKERS_SEEN="$before"
check "nginx starts two workers in their place" wait_for 30 new_generation "$before"
sessions 10 41
mkdir "$SINK"
check "the new workers deliver the dead workers' records, and their own" wait_for 60 all_delivered
check "as recovered batches" [ "$(jq -r 'select(.recovered) | .records[]' "$GATELOG_OUTPUT" | wc -l)" -ge 1 ]

# nginx -s stop with the sink down, then a new nginx with the sink back.
mv "$SINK" "$TMP/sink.1"
sessions 20 51
wait_for 30 spool_settled || fail "nothing reached the spool"
nginx_cmd -s stop
wait "$NGINX_PID" || true
mkdir -p "$SINK"
start_nginx "$port" 2
check "after stop and start, the spooled records are delivered" wait_for 60 all_delivered
stop_nginx QUIT
check "70 sessions, each delivered exactly once" \
  [ "$(delivered | sort | uniq -c | awk '$1 != 1' | wc -l) $(delivered | wc -l)" = "0 70" ]
done_testing
