#!/bin/bash
# Build ngx_stream_gatelog_module.so against Debian's nginx, as Debian
# builds its own dynamic modules (nginx-dev's dh_nginx: the headers and
# configure scripts in /usr/share/nginx/src, the configure flags in its
# conf_flags, --with-compat so that the module loads into the packaged
# binary), plus the stream flags Debian's nginx was built with (nginx -V).
#
#   integrations/nginx/build.sh OUT_DIR GATELOG_INCLUDE_DIR GATELOG_LIB_DIR
#
# Writes OUT_DIR/ngx_stream_gatelog_module.so, linked to the libgatelog.so
# in GATELOG_LIB_DIR (with an rpath to it). Exit 77 if nginx-dev is absent.
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
export GATELOG_INCLUDE=$2 GATELOG_LIBDIR=$3
module=$(cd "$(dirname "$0")" && pwd)
src=/usr/share/nginx/src
if [ ! -f "$src/conf_flags" ]; then
  echo "skip: nginx-dev is not installed ($src/conf_flags)"
  exit 77
fi
# nginx's configure writes its Makefile where it runs: a copy of the
# (small: headers and scripts) tree keeps /usr/share/nginx/src untouched.
# Configured again only when this script or the module's config changed.
if [ ! -f "$out/objs/Makefile" ] || [ "$module/config" -nt "$out/objs/Makefile" ] ||
  [ "$0" -nt "$out/objs/Makefile" ]; then
  rm -rf "$out/nginx-src" "$out/objs"
  cp -r "$src" "$out/nginx-src"
  cd "$out/nginx-src"
  # shellcheck disable=SC1091
  . ./conf_flags
  ./configure --with-cc-opt="-g -O2 -fPIC -Wall -Werror" --with-ld-opt="-fPIC" \
    "${NGX_CONF_FLAGS[@]}" \
    --with-stream=dynamic --with-stream_ssl_module --with-stream_ssl_preread_module \
    --with-stream_realip_module \
    --add-dynamic-module="$module" --builddir="$out/objs" >"$out/configure.log" 2>&1 ||
    { tail -20 "$out/configure.log"; exit 1; }
fi
cd "$out/nginx-src"
make -f "$out/objs/Makefile" "$out/objs/ngx_stream_gatelog_module.so" >"$out/make.log" 2>&1 || { tail -40 "$out/make.log"; exit 1; }
cp "$out/objs/ngx_stream_gatelog_module.so" "$out/"
echo "$out/ngx_stream_gatelog_module.so"
