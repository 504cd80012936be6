#!/bin/bash
# The nginx module's cost (issue 16): nginx's stream proxy in front of an
# echo server, short TCP sessions (connect, 100 bytes each way, close) by
# client loops, through two servers of one nginx: one with `gatelog on`,
# one without. Rounds alternate between them in the same run; the report
# is each side's median sessions per second and their ratio.
#
#   bench/nginx.sh [--quick] [BUILD_DIR]   (default build/, as dev/test makes it)
#
# --quick: 3 rounds of 2 s a side (CI); else 7 rounds of 5 s.
set -euo pipefail
rounds=7 secs=5
if [ "${1:-}" = "--quick" ]; then rounds=3 secs=2; shift; fi
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
peer=$build/gatelog-peer
module=$build/nginx/ngx_stream_gatelog_module.so
[ -f "$module" ] || { echo "no $module: build with nginx-dev installed" >&2; exit 1; }
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null || true; done; pkill -9 -P "${nginx_pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$peer" serve --tcp-echo >"$tmp/peer.out" &
pids="$pids $!"
until grep -q '^ready' "$tmp/peer.out"; do sleep 0.05; done
echo_port=$(awk '$1 == "tcp-echo" { print $2 }' "$tmp/peer.out")
on=$("$peer" freeport)
off=$("$peer" freeport)
cat >"$tmp/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
load_module $module;
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes 1;
error_log $tmp/error.log warn;
pid $tmp/nginx.pid;
events { worker_connections 4096; }
stream {
  gatelog_script $src/bench/nginx_sink.lua;
  gatelog_option lua_path '$src/lua/?.lua';
  server { listen 127.0.0.1:$on; proxy_pass 127.0.0.1:$echo_port; proxy_half_close on; gatelog on; }
  server { listen 127.0.0.1:$off; proxy_pass 127.0.0.1:$echo_port; proxy_half_close on; }
}
CONF
/usr/sbin/nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" -g "daemon off;" &
nginx_pid=$!
pids="$pids $nginx_pid"
until grep -q "0100007F:$(printf %04X "$off") 00000000:0000 0A" /proc/net/tcp; do sleep 0.05; done

# round PORT: sessions per second of two client loops for $secs seconds.
round() {
  local c
  for c in 1 2; do timeout "$secs" "$peer" tcp-loop "127.0.0.1:$1" 100 >"$tmp/loop$c.out" & done
  wait $(jobs -p | tail -2) 2>/dev/null || true
  echo $(($(cat "$tmp"/loop*.out | grep -c '^done') / secs))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
round "$on" >/dev/null # warm-up
for i in $(seq 1 "$rounds"); do
  round "$on" >>"$tmp/on"
  round "$off" >>"$tmp/off"
done
m_on=$(median <"$tmp/on")
m_off=$(median <"$tmp/off")
echo "nginx stream, short TCP sessions, 2 client loops, $rounds rounds of ${secs} s a side, medians"
echo "  gatelog off: $m_off sessions/s   (rounds: $(tr '\n' ' ' <"$tmp/off"))"
echo "  gatelog on:  $m_on sessions/s   (rounds: $(tr '\n' ' ' <"$tmp/on"))"
awk -v a="$m_on" -v b="$m_off" 'BEGIN { printf "  on/off: %.3f (%+.1f%% sessions per second with the module on)\n", a / b, (a / b - 1) * 100 }'
kill -QUIT "$nginx_pid"
wait "$nginx_pid" || true
