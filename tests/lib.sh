# Shared by the integration tests of the binaries (tests/proxy, tests/cli):
# assertions, a temporary directory, and for the proxy's tests, the real
# binaries started on 127.0.0.1 with free ports (port 0, read back from
# their output), waited for by polling, never by fixed sleeps, and killed
# when the test ends, passed or failed.
#   GATELOG_BUILD_DIR   where gatelog-proxy, gatelog-peer and gatelog are
#   GATELOG_SOURCE_DIR  the source tree
#   GATELOG_SANITIZE    ON in the ASan build
set -eu
: "${GATELOG_BUILD_DIR:?}" "${GATELOG_SOURCE_DIR:?}"
PROXY=$GATELOG_BUILD_DIR/gatelog-proxy
PEER=$GATELOG_BUILD_DIR/gatelog-peer
CLI=$GATELOG_BUILD_DIR/gatelog
FIXTURES=$(cd "$(dirname "$0")" && pwd) # the test's own directory
TMP=$(mktemp -d)
PIDS=""
PASSED=0
export GATELOG_OUTPUT=$TMP/records.ndjson

cleanup() {
  for p in $PIDS; do
    { kill -9 "$p" && wait "$p"; } 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$TMP/proxy.log" ]; then
    echo "--- proxy log (last lines)" >&2
    tail -n 30 "$TMP/proxy.log" >&2
  fi
  exit 1
}

ok() {
  PASSED=$((PASSED + 1))
  echo "ok $PASSED - $*"
}

# check DESCRIPTION COMMAND...: one assertion.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

start_peer() {
  "$PEER" serve "$@" >"$TMP/peer.out" &
  PIDS="$PIDS $!"
  wait_for 20 grep -q '^ready' "$TMP/peer.out" || fail "gatelog-peer did not start"
}

peer_port() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/peer.out"; }

# start_proxy ARGS...: run gatelog-proxy in the background until it is
# ready; PROXY_PID is its pid, $TMP/proxy.log its standard error.
start_proxy() {
  # Emptied here, not by the background redirection: that one may happen
  # after the wait below has read a previous proxy's ready line.
  : >"$TMP/proxy.log"
  "$PROXY" "$@" 2>>"$TMP/proxy.log" &
  PROXY_PID=$!
  PIDS="$PIDS $PROXY_PID"
  wait_for 30 grep -q ' ready: ' "$TMP/proxy.log" || fail "gatelog-proxy did not start"
}

# proxy_port N: the port the Nth --listen got.
proxy_port() {
  grep -o 'listening [a-z]* 127\.0\.0\.1:[0-9]*' "$TMP/proxy.log" | sed -n "${1}p" | sed 's/.*://'
}

metrics_port() { grep -o 'metrics at http://127\.0\.0\.1:[0-9]*' "$TMP/proxy.log" | sed 's/.*://'; }

# metric NAME: its value now.
metric() {
  curl -sf "http://127.0.0.1:$(metrics_port)/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

metric_is() { [ "$(metric "$1")" = "$2" ]; }

# stop_proxy: SIGTERM, wait; returns the exit status.
stop_proxy() {
  kill -TERM "$PROXY_PID"
  local rc=0
  wait "$PROXY_PID" || rc=$?
  return $rc
}

# A client's output line "sent=N received=M intact=yes": field VALUE.
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" "$1"; }
local_port() { sed -n 's/^local //p' "$1"; }

# record PORT: the record of the session from 127.0.0.1:PORT.
record() { jq -c --arg a "127.0.0.1:$1" 'select(.sourceAddr == $a)' "$GATELOG_OUTPUT"; }

# The peer's tcp-reply and udp-reply answer n bytes with this many.
reply_size() { echo $(($1 / 2 + 7)); }

done_testing() { echo "$PASSED passed, 0 failed"; }
