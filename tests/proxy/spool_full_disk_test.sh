#!/bin/bash
# The spool on a full disk (a 2 MiB tmpfs this test mounts; skipped where
# it cannot): a proxy cannot start on a spool it cannot write, and says
# why; one that runs when the disk fills goes on, on memory alone, counts
# and logs the failed writes, delivers everything, and writes again once
# there is room.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/spool_lib.sh"

disk=$TMP/disk
mkdir "$disk"
if ! why=$(mount -t tmpfs -o size=2m gatelog-test "$disk" 2>&1); then
  echo "skipped: cannot mount a tmpfs for a small disk (needs root): $why"
  exit 77
fi
trap 'umount "$disk" 2>/dev/null; cleanup' EXIT
fill() { dd if=/dev/zero of="$disk/fill" bs=4k 2>/dev/null || true; }

start_peer --tcp-echo
sink=$TMP/sink
mkdir "$sink"
export GATELOG_OUTPUT=$sink/records.ndjson
args=(--script "$FIXTURES/spool_sink.lua" --spool "$disk/spool"
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-echo)")

fill
rc=0
out=$("$PROXY" "${args[@]}" 2>&1) || rc=$?
check "a spool on a full disk: the proxy does not start (exit 2)" [ "$rc" = 2 ]
check "and says why" grep -q "spool_dir $disk/spool: cannot write its instance file: no space left on device" <<<"$out"
rm "$disk/fill"

TEST_RUN=1 start_proxy "${args[@]}" --metrics 127.0.0.1:0
port=$(proxy_port 1)
"$PEER" tcp-loop "127.0.0.1:$port" 500 >"$TMP/clients.1.1" &
loop=$!
PIDS="$PIDS $loop"
check "batches are spooled" wait_for 30 eval '[ "$(metric gatelog_spool_bytes)" -gt 0 ]'
fill
check "the disk fills: failed writes are counted" \
  wait_for 30 eval '[ "$(metric gatelog_spool_write_errors_total)" -gt 5 ]'
check "and logged once" \
  [ "$(grep -c "spool: cannot write .* no space left on device; batches are kept in memory only" "$TMP/proxy.log")" = 1 ]
check "records are still delivered" wait_for 30 eval '[ "$(metric gatelog_records_sent_total)" -gt 1000 ]'
rm "$disk/fill"
check "once there is room, the spool writes again" wait_for 30 grep -q "spool: writing to $disk/spool again" "$TMP/proxy.log"
kill "$loop"
wait "$loop" 2>/dev/null || true
check "everything is delivered" wait_for 30 metric_is gatelog_records_queued 0
check "nothing was dropped" metric_is gatelog_records_dropped_total 0
check "the proxy stops with exit 0" stop_proxy
spool_checked "a completed session has no record, or has two"
ok "every completed session is delivered, once"
done_testing
