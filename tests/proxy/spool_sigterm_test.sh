#!/bin/bash
# SIGTERM with the sink down and --spool: what could not be delivered by
# the drain deadline stays in the spool (sessions still open are ended and
# spooled too): the proxy exits 0 and says how many batches wait; nothing
# is lost. The next start sends them first. And a second proxy cannot use
# the same spool directory while the first runs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/spool_lib.sh"

start_peer --tcp-echo
sink=$TMP/sink
export GATELOG_OUTPUT=$sink/records.ndjson # no directory: the sink is down
spool=$TMP/spool
run_proxy() {
  TEST_RUN=$1 start_proxy --script "$FIXTURES/spool_sink.lua" --spool "$spool" --drain 0.5 \
    --metrics 127.0.0.1:0 --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)"
}

run_proxy 1
port=$(proxy_port 1)
"$PEER" tcp-loop "127.0.0.1:$port" 700 >"$TMP/clients.1.1" &
loop=$!
PIDS="$PIDS $loop"
# Two connections stay open across the stop.
for n in 1 2; do
  "$PEER" tcp "127.0.0.1:$port" 1000 --wait-file "$TMP/never" >"$TMP/open$n.out" &
  PIDS="$PIDS $!"
done
check "sessions are written to the spool while the sink is down" \
  wait_for 30 eval '[ "$(metric gatelog_spool_batches)" -ge 5 ]'
check "two connections are open" wait_for 30 metric_is gatelog_tcp_open 2
check "failed sends are counted" wait_for 30 eval '[ "$(metric gatelog_batches_failed_total)" -ge 1 ]'

second() { "$PROXY" --script "$FIXTURES/spool_sink.lua" --spool "$spool" --listen "tcp:127.0.0.1:0=127.0.0.1:1" 2>&1; }
out=$(second) && fail "a second proxy started on the same spool"
check "a second proxy on the same spool exits 2 and says why" \
  grep -q "spool_dir $spool is in use by another gatelog core (pid $PROXY_PID" <<<"$out"

kill -TERM "$PROXY_PID"
rc=0
wait "$PROXY_PID" || rc=$?
wait "$loop" || true
check "SIGTERM with the sink down and a spool: exit 0" [ "$rc" = 0 ]
check "nothing was lost" grep -q "stopped: 0 records sent, 0 lost" "$TMP/proxy.log"
check "it says how many batches wait in the spool" \
  grep -q "batches wait in the spool $spool for the next start" "$TMP/proxy.log"
left=$(sed -n 's/.* \([0-9]*\) batches wait in the spool.*/\1/p' "$TMP/proxy.log")

mkdir "$sink" # the sink is back
run_proxy 2
check "the next start finds them" \
  grep -q "spool $spool: $left batches ([0-9]* records) not delivered by a previous run; sent first" "$TMP/proxy.log"
check "and delivers them" wait_for 30 metric_is gatelog_spool_batches 0
check "as recovered batches, in run 2" \
  [ "$(jq -c 'select(.recovered and .run == 2) | .batch' "$GATELOG_OUTPUT" | sort -u | wc -l)" = "$left" ]
check "the connections open at the stop have their records (shutdown)" \
  [ "$(jq -c '.records[] | select(.bytesTx == 500)' "$GATELOG_OUTPUT" | wc -l)" = 2 ]
check "the proxy stops cleanly" stop_proxy
spool_checked "a completed session has no record"
ok "every completed session is delivered, once"
done_testing
