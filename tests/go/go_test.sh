#!/bin/sh
# The Go binding's tests (bindings/go), plain or under the race detector:
#   go_test.sh plain|race
# It links build/libgatelog.a; -count=1 because Go's test cache does not
# see that library change. Offline: Debian's golang-go, no module download.
set -eu
cd "$(dirname "$0")/../../bindings/go"
export GOFLAGS=-mod=mod GOPROXY=off
if [ "${1:-plain}" = race ]; then
  exec go test -race -count=1 ./...
fi
exec go test -count=1 ./...
