#!/bin/bash
# The sink down for a while under steady traffic, with --spool: memory
# holds queue_max records, the disk the rest; nothing is dropped, and once
# the sink is back every completed session is delivered, once.
# SPOOL_OUTAGE_SECONDS sets the outage (default 5; the issue's is 20).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/spool_lib.sh"
OUTAGE=${SPOOL_OUTAGE_SECONDS:-5}

start_peer --tcp-echo
sink=$TMP/sink
export GATELOG_OUTPUT=$sink/records.ndjson # no directory yet: the sink is down
TEST_RUN=1 TEST_QUEUE_MAX=200 start_proxy --script "$FIXTURES/spool_sink.lua" --spool "$TMP/spool" \
  --metrics 127.0.0.1:0 --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)"
port=$(proxy_port 1)
cpids=""
for c in 1 2; do
  "$PEER" tcp-loop "127.0.0.1:$port" $((300 * c)) >"$TMP/clients.1.$c" &
  cpids="$cpids $!"
done
PIDS="$PIDS $cpids"

sleep "$OUTAGE"
# (and until the traffic, however slow the machine, has filled memory)
wait_for 60 eval '[ "$(metric gatelog_records_queued)" -gt 1000 ]' || true
queued=$(metric gatelog_records_queued)
on_disk=$(metric gatelog_spool_batches)
check "after ${OUTAGE} s down, more is held than memory takes (queue_max 200): $queued records" \
  [ "$queued" -gt 1000 ]
check "the spool holds it: $on_disk batches" [ "$on_disk" -gt 10 ]
check "nothing was dropped" metric_is gatelog_records_dropped_total 0
mkdir "$sink" # the sink is back
check "the backlog drains while traffic goes on" wait_for 60 eval '[ "$(metric gatelog_records_queued)" -lt 200 ]'
kill $cpids
for p in $cpids; do wait "$p" 2>/dev/null || true; done
check "then everything is delivered" wait_for 60 drained
check "nothing was dropped" metric_is gatelog_records_dropped_total 0
check "the proxy stops with exit 0" stop_proxy
spool_checked "a completed session has no record, or has two"
ok "every session completed during and after the outage is delivered, once"
done_testing
