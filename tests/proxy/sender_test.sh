#!/bin/bash
# --sender: scripts/newt.lua's payloads leave gatelog-proxy in the
# reference's control-plane message, appended to a file (file:PATH) or
# POSTed to an HTTP receiver (socat running a small handler here, which
# refuses the first request with a 503: the batch is retried). Every
# record arrives once, by the client's own port. A script that calls a
# sender the proxy was not given fails at start, naming it.
. "$(dirname "$0")/../lib.sh"
NEWT=$GATELOG_SOURCE_DIR/scripts/newt.lua
export GATELOG_BATCH_MAX=3

# 1. No --sender for the script's "control": exit 2 at start, naming it.
rc=0
"$PROXY" --script "$NEWT" --listen tcp:127.0.0.1:0=127.0.0.1:9 2>"$TMP/nosender.err" || rc=$?
check "a missing sender fails at start (exit 2)" [ "$rc" = 2 ]
check "naming the sender and the option that gives it" \
  grep -q "host sender 'control'.*--sender control=URL" "$TMP/nosender.err"
rc=0
"$PROXY" --script "$NEWT" --listen tcp:127.0.0.1:0=127.0.0.1:9 --sender control=ftp://x 2>"$TMP/bad.err" || rc=$?
check "a sender that is neither http(s) nor file: is refused (exit 2)" [ "$rc" = 2 ]
check "saying which" grep -q -- "--sender 'control=ftp://x'" "$TMP/bad.err"

# The client ports of n connections through the proxy's first listener.
connect() {
  for i in $(seq "$1"); do
    "$PEER" tcp "127.0.0.1:$(proxy_port 1)" 100 >"$TMP/c$i.out" || fail "client $i failed"
    local_port "$TMP/c$i.out"
  done | sort -n >"$TMP/ports.want"
}
# The source ports in the messages of FILE (one JSON message a line).
ports_in() {
  : >"$TMP/ports.got"
  while IFS= read -r line; do
    [ "$(jq -r .type <<<"$line")" = newt/access-log ] || fail "not a newt/access-log message: $line"
    "$CLI" decode "$(jq -r .data.compressed <<<"$line")" | jq -r '.[].sourceAddr' | sed 's/.*://' >>"$TMP/ports.got"
  done <"$1"
  sort -n "$TMP/ports.got" -o "$TMP/ports.got"
}

start_peer --tcp-reply
upstream=127.0.0.1:$(peer_port tcp-reply)

# 2. file:PATH
start_proxy --script "$NEWT" --sender "control=file:$TMP/control.ndjson" --listen "tcp:127.0.0.1:0=$upstream"
check "the proxy says where the sender goes" grep -q "sender control: appends to $TMP/control.ndjson" "$TMP/proxy.log"
connect 7
check "the proxy stops cleanly (drained)" stop_proxy
ports_in "$TMP/control.ndjson"
check "file: every record once, in the reference's message" cmp -s "$TMP/ports.want" "$TMP/ports.got"

# 3. http://: a receiver that answers 503 once, then 200.
port=$("$PEER" freeport)
cat >"$TMP/handler.sh" <<'HANDLER'
#!/bin/bash
len=0
while IFS= read -r line; do
  line=${line%$'\r'}
  [ -z "$line" ] && break
  case "${line,,}" in content-length:*) len=${line#*: } ;; esac
done
body=$(head -c "$len")
if rm "$DIR/fail_once" 2>/dev/null; then
  printf 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
  exit 0
fi
printf '%s\n' "$body" >>"$DIR/received.ndjson"
printf 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
HANDLER
chmod +x "$TMP/handler.sh"
touch "$TMP/fail_once"
DIR=$TMP socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$TMP/handler.sh" &
PIDS="$PIDS $!"
wait_for 10 "$PEER" tcp "127.0.0.1:$port" 0 >/dev/null 2>&1 || true
rm -f "$TMP/received.ndjson"
touch "$TMP/fail_once"
start_proxy --script "$NEWT" --sender "control=http://127.0.0.1:$port/access-log" --metrics 127.0.0.1:0 \
  --listen "tcp:127.0.0.1:0=$upstream"
connect 8
check "the 503 fails a send, which is retried" wait_for 30 metric_is gatelog_batches_retried_total 1
check "the proxy stops cleanly (drained)" stop_proxy
check "the receiver refused one request" [ ! -e "$TMP/fail_once" ]
ports_in "$TMP/received.ndjson"
check "http: every record once, after the retry" cmp -s "$TMP/ports.want" "$TMP/ports.got"
done_testing
