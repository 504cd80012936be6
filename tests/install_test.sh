#!/bin/sh
# Install into a fresh prefix, check what lands there (and what must not:
# the development binaries), build a gateway against it with pkg-config and
# with its CMake package (shared and static each), run each with the
# installed default script, run the installed tools, and load the installed
# Lua module in luajit.
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
for f in share/man/man1/gatelog.1 share/man/man8/gatelog-proxy.8 share/man/man3/gatelog.3 \
         share/lua/5.1/gatelog/codec/newt.lua lib/systemd/system/gatelog-proxy.service \
         share/doc/gatelog/examples/gatelog-proxy.env; do
  [ -f "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
for f in gatelog-demo gatelog-peer gatelog-bench gatelog-options-md; do
  [ ! -e "$prefix/bin/$f" ] || { echo "a development binary is installed: bin/$f"; exit 1; }
done
for f in gatelogConfig.cmake gatelogConfigVersion.cmake gatelogTargets.cmake; do
  [ -f "$libdir/cmake/gatelog/$f" ] || { echo "not installed: $libdir/cmake/gatelog/$f"; exit 1; }
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

# The CMake package, found from the prefix alone, as a consumer would.
cmake -S "$src/tests/install_consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
      -DEXAMPLE="$src/tests/install_example.c" >"$tmp/consumer.log" 2>&1 &&
  cmake --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1 ||
  { echo "the CMake consumer did not build"; cat "$tmp/consumer.log"; exit 1; }
[ "$(realpath "$(sed -n 1p "$tmp/consumer/dirs.txt")")" = "$(realpath "$(dirname "$script")")" ] ||
  { echo "gatelog_SCRIPT_DIR is wrong: $(sed -n 1p "$tmp/consumer/dirs.txt")"; exit 1; }
[ -f "$(sed -n 2p "$tmp/consumer/dirs.txt")/gatelog/record.lua" ] ||
  { echo "gatelog_LUA_DIR is wrong: $(sed -n 2p "$tmp/consumer/dirs.txt")"; exit 1; }
# One links libgatelog.so, the other has no need of it.
ldd "$tmp/consumer/gw_cmake_shared" | grep -q 'libgatelog\.so' ||
  { echo "gatelog::gatelog did not link the shared library"; exit 1; }
! ldd "$tmp/consumer/gw_cmake_static" | grep -q 'libgatelog\.so' ||
  { echo "gatelog::static linked the shared library"; exit 1; }
cp "$tmp/consumer/gw_cmake_shared" "$tmp/consumer/gw_cmake_static" "$tmp/"

for gw in gw_shared gw_static gw_cmake_shared gw_cmake_static; do
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
