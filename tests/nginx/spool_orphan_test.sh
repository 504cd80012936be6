#!/bin/bash
# Spools under names no worker takes (here w4.4 and w9.5: like w3 after
# worker_processes went down to 2, or w0.1 left by a worker of an earlier
# generation that drained beside w0's new holder): a worker finds them,
# delivers what they hold with a core of its own, and stops that core once
# it is done. Each session exactly once.
. "$(dirname "$0")/lib.sh"
SINK=$TMP/sink
export GATELOG_OUTPUT=$SINK/records.ndjson # no $SINK: every send fails

start_peer --tcp-reply
port=$($PEER freeport)
write_spool_conf "$port"
start_nginx "$port" 2

for i in $(seq 1 30); do
  "$PEER" tcp "127.0.0.1:$port" 3000 >"$TMP/s$i.out" || fail "client $i failed"
  local_port "$TMP/s$i.out" >>"$TMP/ports"
done
wait_for 30 spool_settled || fail "nothing reached the spool"
nginx_cmd -s stop
wait "$NGINX_PID" || true
# Names no worker of the next nginx takes: it finds w0 and w1 free.
for w in 0 1; do [ ! -d "$TMP/spool/w$w" ] || mv "$TMP/spool/w$w" "$TMP/spool/w$((w * 5 + 4)).$((w + 4))"; done
mkdir -p "$SINK"
start_nginx "$port" 2

delivered() { jq -r '.records[].sourceAddr | sub(".*:"; "")' "$GATELOG_OUTPUT" 2>/dev/null; }
all_delivered() { [ "$(delivered | sort -u | wc -l)" = 30 ]; }
check "the spools no worker holds are delivered" wait_for 60 all_delivered
check "by a worker that says so" grep -q "delivering the spool $TMP/spool/w[49]\." "$NGINX_LOG"
check "whose core stops once they are" wait_for 30 grep -q "the spool $TMP/spool/w[49]\.[45] is delivered" "$NGINX_LOG"
no_segments() { ! ls "$TMP"/spool/w4.4/seg-* "$TMP"/spool/w9.5/seg-* >/dev/null 2>&1; }
check "which then hold no segment (not adopted again at the next look)" no_segments
check "the new workers took w0 and w1" [ -d "$TMP/spool/w0" ] && [ -d "$TMP/spool/w1" ]
stop_nginx QUIT
check "30 sessions, each delivered exactly once" \
  [ "$(delivered | sort | uniq -c | awk '$1 != 1' | wc -l) $(delivered | wc -l)" = "0 30" ]
done_testing
