#!/bin/sh
# Install into a fresh prefix, check what lands there, build a gateway
# against it with pkg-config (shared and static), run it with the installed
# default script, run the installed tools, and load the installed Lua
# module in luajit.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

pc=$(find "$prefix" -name gatelog.pc)
libdir=$(dirname "$(dirname "$pc")")
for f in include/gatelog.h share/gatelog/scripts/default.lua bin/gatelog-proxy bin/gatelog; do
  [ -f "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
for f in libgatelog.a libgatelog.so lua/5.1/gatelog.so; do
  [ -e "$libdir/$f" ] || { echo "not installed: $libdir/$f"; exit 1; }
done

export PKG_CONFIG_PATH="$(dirname "$pc")"
script=$(pkg-config --variable=scriptdir gatelog)/default.lua
[ -f "$script" ] || { echo "pkg-config scriptdir is wrong: $script"; exit 1; }

cc "$src/tests/install_example.c" $(pkg-config --cflags --libs gatelog) -o "$tmp/gw_shared"
# libgatelog.a with its dependencies as shared libraries: Debian ships no
# static builds of libcurl's own dependencies (nghttp2, ssh2, ldap, ...),
# so `pkg-config --static` cannot be satisfied for them; the private
# requirements of gatelog.pc are what is linked here.
deps=$(pkg-config --print-requires-private gatelog | awk '{print $1}')
cc "$src/tests/install_example.c" -static-libgcc $(pkg-config --cflags gatelog) \
   "$libdir/libgatelog.a" $(pkg-config --libs libuv $deps) -lm -o "$tmp/gw_static"

for gw in gw_shared gw_static; do
  out=$tmp/$gw.ndjson
  GATELOG_OUTPUT=$out LD_LIBRARY_PATH=$libdir "$tmp/$gw" "$script"
  lines=$(wc -l < "$out")
  [ "$lines" -eq 1 ] || { echo "$gw wrote $lines records, want 1"; exit 1; }
  grep -q '"bytesTx":10,"bytesRx":20}' "$out" || { echo "$gw: wrong record"; cat "$out"; exit 1; }
done

# The installed tools, with the installed script.
"$prefix/bin/gatelog" check "$script" >"$tmp/check.out" 2>/dev/null
[ "$(wc -l < "$tmp/check.out")" -eq 3 ] || { echo "installed gatelog check failed"; exit 1; }
"$prefix/bin/gatelog-proxy" --version | grep -q '^gatelog-proxy ' || { echo "installed gatelog-proxy failed"; exit 1; }

luajit -e "package.cpath='$libdir/lua/5.1/?.so;' .. package.cpath
  local g = require 'gatelog'
  assert(package.loaded.gatelog == g and g.version, 'module did not load')
  local gl = assert(g.new{ script = '$script', access_log = false })
  assert(gl:tcp_start(1, '10.0.0.1:1', '10.0.0.2:2'))
  local st = gl:close(1)
  assert(st.ended_shutdown == 1)" >/dev/null
echo "1 passed, 0 failed"
