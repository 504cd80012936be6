#!/bin/bash
# Records dropped during the run count at the stop: the drop warning is
# followed by the total once drops stop, and the closing line and the exit
# status (1) report them, although nothing was left at the close.
. "$(dirname "$0")/../lib.sh"

start_peer --tcp-echo
start_proxy --script "$FIXTURES/fail_four.lua" --metrics 127.0.0.1:0 \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)"
port=$(proxy_port 1)

# Four sessions: their batches are at the sink together, and fail together.
for _ in 1 2 3 4; do "$PEER" tcp "127.0.0.1:$port" 10 >/dev/null || fail "a client failed"; done
check "three records are dropped for queue_max_records" wait_for 30 metric_is gatelog_records_dropped_total 3
check "the newest is retried and delivered" wait_for 30 metric_is gatelog_records_sent_total 1
check "the drop warning names the limit" \
  grep -q "queue over queue_max_records=1 (records waiting again after a failed send): dropped the" "$TMP/proxy.log"
check "once the drops stop, their total" \
  wait_for 30 grep -q "dropped 3 records (3 batches) in the last [0-9]* s" "$TMP/proxy.log"
"$PEER" tcp "127.0.0.1:$port" 10 >/dev/null || fail "a client failed"
check "a later session is delivered" wait_for 30 metric_is gatelog_records_sent_total 2

rc=0
stop_proxy || rc=$?
check "records dropped during the run: exit 1" [ "$rc" = 1 ]
check "and the closing line counts them" grep -q \
  "stopped: 2 records sent, 3 lost (3 dropped during the run, 0 refused by the sink, 0 not delivered by the drain deadline)" \
  "$TMP/proxy.log"
check "two records in the file" [ "$(wc -l <"$GATELOG_OUTPUT")" = 2 ]
done_testing
