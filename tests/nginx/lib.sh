# The nginx module's tests (tests/nginx/*_test.sh): tests/lib.sh, plus
# Debian's nginx started on 127.0.0.1 in a prefix of its own under $TMP,
# with ngx_stream_gatelog_module (built by CMake into
# $GATELOG_BUILD_DIR/nginx/) and stream servers in front of gatelog-peer.
# Skips (exit 77) when nginx or the module is not there.
. "$(dirname "$0")/../lib.sh"
NGINX=${NGINX:-/usr/sbin/nginx}
MODULE=$GATELOG_BUILD_DIR/nginx/ngx_stream_gatelog_module.so
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
[ -x "$NGINX" ] || { echo "skip: no $NGINX"; exit 77; }
[ -f "$MODULE" ] || { echo "skip: the module was not built ($MODULE)"; exit 77; }
NGINX_CONF=$TMP/nginx.conf
NGINX_LOG=$TMP/error.log
NGINX_PID=""

# Tests run as root in CI: workers stay root so that they can write in $TMP.
nginx_user() { [ "$(id -u)" = 0 ] && echo "user root;" || true; }

# write_conf STREAM_BODY [WORKERS]: nginx.conf with the module loaded and
# STREAM_BODY inside stream {}.
write_conf() {
  cat >"$NGINX_CONF" <<CONF
load_module $STREAM_MODULE;
load_module $MODULE;
$(nginx_user)
worker_processes ${2:-2};
env GATELOG_OUTPUT;
error_log $NGINX_LOG info;
pid $TMP/nginx.pid;
events { worker_connections 4096; }
stream {
$1
}
CONF
}

nginx_cmd() { "$NGINX" -p "$TMP" -c "$NGINX_CONF" -e "$NGINX_LOG" "$@"; }

# workers: the pids of nginx's worker processes now.
workers() {
  [ -n "$NGINX_PID" ] || return 0
  pgrep -P "$NGINX_PID" 2>/dev/null | sort || true
}
workers_are() { [ "$(workers | wc -l)" = "$1" ]; }
# listening PORT: a socket listens on 127.0.0.1:PORT (/proc, not a
# connection, which nginx would log as a session).
listening() { grep -q "0100007F:$(printf %04X "$1") 00000000:0000 0A" /proc/net/tcp; }

# start_nginx N_WORKERS: nginx in the foreground of a background job (so
# that its master is our child), until its TCP port $1 listens.
start_nginx() {
  "$NGINX" -p "$TMP" -c "$NGINX_CONF" -e "$NGINX_LOG" -g "daemon off;" &
  NGINX_PID=$!
  PIDS="$PIDS $NGINX_PID"
  wait_for 30 workers_are "$2" || nginx_fail "nginx did not start its workers"
  wait_for 30 listening "$1" || nginx_fail "nginx does not listen on $1"
}

# fail, with the end of nginx's error log and of the records.
fail() {
  echo "FAIL: $*" >&2
  echo "--- nginx error log (last lines)" >&2
  tail -n 30 "$NGINX_LOG" >&2 || true
  echo "--- $(records_count) records (last lines)" >&2
  tail -n 3 "$GATELOG_OUTPUT" >&2 || true
  exit 1
}
nginx_fail() { fail "$@"; }

# stop_nginx SIGNAL: signal the master and wait for it to exit.
stop_nginx() {
  kill "-$1" "$NGINX_PID"
  wait "$NGINX_PID" || true
}

records_count() { cat "$GATELOG_OUTPUT" 2>/dev/null | wc -l; }
records_are() { [ "$(records_count)" = "$1" ]; }

# The script and the Lua path every test uses.
GATELOG_DIRECTIVES="gatelog_script $GATELOG_SOURCE_DIR/tests/proxy/record.lua;
  gatelog_option lua_path '$GATELOG_SOURCE_DIR/lua/?.lua;$GATELOG_SOURCE_DIR/lua/?/init.lua';"

# batch_add PID, batch_wait: wait for the clients started since the last
# batch_wait (not for nginx and the peer); fails if one did.
BATCH=""
batch_add() { BATCH="$BATCH $1"; }
batch_wait() {
  local p rc=0
  for p in $BATCH; do wait "$p" || rc=1; done
  BATCH=""
  return $rc
}

# A master killed with -9 would leave its workers running: they go first.
nginx_cleanup() {
  local w
  for w in $NGINX_WORKERS_SEEN $(workers); do kill -9 "$w" 2>/dev/null || true; done
  cleanup
}
NGINX_WORKERS_SEEN=""
trap nginx_cleanup EXIT

# nginx's own access log of stream sessions, the ground truth the records
# are held against: "client_port bytes_received bytes_sent status" a line.
ACCESS_LOG_DIRECTIVES="log_format gatelog_truth '\$remote_port \$bytes_received \$bytes_sent \$status';
  access_log $TMP/access.log gatelog_truth;"

# truth_matches: every session in nginx's access log has exactly one record
# with the same client port and bytes, and no record is left over.
truth_matches() {
  sort "$TMP/access.log" >"$TMP/truth.sorted"
  jq -r '"\(.sourcePort // (.sourceAddr | sub(".*:"; ""))) \(.bytesTx) \(.bytesRx)"' "$GATELOG_OUTPUT" |
    sort >"$TMP/records.sorted"
  cut -d' ' -f1-3 "$TMP/truth.sorted" | diff - "$TMP/records.sorted" >"$TMP/truth.diff"
}

# new_generation OLD_WORKERS: the master runs as many workers as before,
# none of them from OLD_WORKERS.
new_generation() {
  local w
  for w in $(workers); do
    echo "$1" | grep -qx "$w" && return 1
  done
  workers_are "$(echo "$1" | wc -w)"
}

# The spool tests' nginx: the spool sink policy (tests/proxy/spool_sink.lua)
# writing to $GATELOG_OUTPUT, a spool per worker under $TMP/spool, and a TCP
# server on PORT in front of the peer's tcp-reply; two workers.
write_spool_conf() {
  write_conf "
  gatelog_script $GATELOG_SOURCE_DIR/tests/proxy/spool_sink.lua;
  gatelog_option lua_path '$GATELOG_SOURCE_DIR/lua/?.lua';
  gatelog_spool $TMP/spool;
  server { listen 127.0.0.1:$1; proxy_pass 127.0.0.1:$(peer_port tcp-reply);
           proxy_half_close on; gatelog on; gatelog_resource 4; }" 2
}
spool_bytes() { cat "$TMP"/spool/w*/seg-*.gls 2>/dev/null | wc -c; }
# The spool's writer has caught up: its size holds still for a while.
spool_settled() {
  local a b
  a=$(spool_bytes)
  sleep 0.5
  b=$(spool_bytes)
  [ "$a" -gt 0 ] && [ "$a" = "$b" ]
}
