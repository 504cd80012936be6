#!/bin/bash
# kill -9 with a spool, ten times in a row: gatelog-proxy --spool with a
# file sink, four clients making connections one after another, killed at
# a random moment; each restart sends what the last run left. The sink
# answers 0.1 s after it wrote a batch (a slow collector), so that kills
# find batches delivered but not acknowledged. Then every
# session a client completed more than 100 ms before a kill has its record,
# and a record comes twice only in a batch delivered again, whole, by the
# next run (the batch was in flight at the kill). spool_check.lua does the
# counting and prints the figures.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/spool_lib.sh"
RUNS=${SPOOL_CRASH_RUNS:-10}

start_peer --tcp-echo
echo_port=$(peer_port tcp-echo)
spool=$TMP/spool
: >"$TMP/kills"
: >"$GATELOG_OUTPUT"

run_proxy() {
  TEST_RUN=$1 TEST_ACK_DELAY=0.1 start_proxy --script "$FIXTURES/spool_sink.lua" --spool "$spool" \
    --metrics 127.0.0.1:0 --listen "tcp:127.0.0.1:0=127.0.0.1:$echo_port"
}

for run in $(seq 1 "$RUNS"); do
  run_proxy "$run"
  port=$(proxy_port 1)
  cpids=""
  for c in 1 2 3 4; do
    "$PEER" tcp-loop "127.0.0.1:$port" $((200 + 300 * c)) >"$TMP/clients.$run.$c" &
    cpids="$cpids $!"
  done
  PIDS="$PIDS $cpids"
  # Once traffic flows (however slow the machine), a random moment from
  # 0.3 to 1.5 s into it.
  check "run $run: clients complete sessions" wait_for 30 eval "cat $TMP/clients.$run.* | grep -q ^done"
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.3 + (r % 1200) / 1000 }')"
  echo "$run $(date +%s%N)" >>"$TMP/kills"
  kill -9 "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
  for p in $cpids; do wait "$p" || true; done
  cp "$TMP/proxy.log" "$TMP/proxy.$run.log"
done

# The last start delivers what is left, and stops cleanly.
run_proxy $((RUNS + 1))
check "the last run empties the spool" wait_for 60 drained
check "and stops with exit 0" stop_proxy
check "nothing was left in the spool" \
  [ -z "$(ls "$spool" | grep -v -e '^LOCK$' -e '^instance$')" ]
recovered=$(cat "$TMP"/proxy.*.log "$TMP/proxy.log" | grep -c 'not delivered by a previous run; sent first' || true)
echo "# $recovered of $RUNS restarts found batches left in the spool"

spool_checked "a session completed before a kill is lost, or a duplicate is not a re-sent batch"
ok "every session completed 100 ms before a kill is delivered; duplicates are whole batches re-sent"
done_testing
