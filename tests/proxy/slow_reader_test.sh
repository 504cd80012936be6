#!/bin/bash
# Backpressure: an upstream pushes 200 MiB at a client that reads nothing
# for a while. The proxy must stop reading the upstream instead of
# buffering: its resident memory may not grow by more than 32 MiB. Then
# the client reads, and everything arrives, intact, and is counted.
. "$(dirname "$0")/../lib.sh"
if [ "${GATELOG_SANITIZE:-OFF}" = ON ]; then
  # ASan keeps freed memory in quarantine and adds shadow memory, so the
  # resident size says nothing about the proxy's buffering there.
  echo "skipped: RSS bounds are meaningless under AddressSanitizer"
  exit 77
fi
total=$((200 * 1024 * 1024))
bound_kb=$((32 * 1024))

start_peer --source "$total"
start_proxy --script "$FIXTURES/record.lua" --metrics 127.0.0.1:0 \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port source)"
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$PROXY_PID/status"; }
base=$(rss_kb)

"$PEER" slow "127.0.0.1:$(proxy_port 1)" --wait-file "$TMP/go" >"$TMP/client.out" &
client=$!
PIDS="$PIDS $client"
wait_for 30 metric_is gatelog_proxy_tcp_active 1 || fail "the client did not connect"
# Watch for 3 s while the client reads nothing. Without backpressure the
# proxy would take in the whole 200 MiB from the loopback in well under
# that.
peak=$base
for _ in $(seq 60); do
  now=$(rss_kb)
  [ "$now" -gt "$peak" ] && peak=$now
  sleep 0.05
done
delivered=$(metric gatelog_proxy_rx_bytes_total)
echo "proxy RSS: $base kB at start, peak $peak kB while stalled (+$((peak - base)) kB); $delivered bytes handed to the client's socket meanwhile"
check "RSS grew by less than 32 MiB while the client did not read" [ $((peak - base)) -lt $bound_kb ]
check "the stalled client was not sent everything" [ "$delivered" -lt "$total" ]

touch "$TMP/go"
wait "$client" || fail "the client failed"
check "then the client gets all 200 MiB, intact" \
  [ "$(field "$TMP/client.out" received)" = "$total" -a "$(field "$TMP/client.out" intact)" = yes ]
check "the session ends" wait_for 30 metric_is gatelog_tcp_ended_total 1
check "the proxy exits 0" stop_proxy
check "the record counts 200 MiB received" \
  [ "$(record "$(local_port "$TMP/client.out")" | jq -r .bytesRx)" = "$total" ]
done_testing
