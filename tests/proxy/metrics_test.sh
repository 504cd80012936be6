#!/bin/bash
# --metrics: GET /metrics answers gatelog_stats and the proxy's counters in
# the Prometheus text format, named by its conventions (promtool check
# metrics passes); other paths are 404.
. "$(dirname "$0")/../lib.sh"

start_peer --tcp-reply
start_proxy --script "$FIXTURES/record.lua" --metrics 127.0.0.1:0 \
  --listen "tcp:127.0.0.1:0=127.0.0.1:$(peer_port tcp-reply)"
url=http://127.0.0.1:$(metrics_port)
"$PEER" tcp "127.0.0.1:$(proxy_port 1)" 1000 >"$TMP/client.out" || fail "the client failed"
wait_for 30 metric_is gatelog_tcp_ended_total 1 || fail "the session did not end"

curl -sf -D "$TMP/headers" "$url/metrics" >"$TMP/metrics" || fail "GET /metrics failed"
check "content type of the text format 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/headers"
check "every sample has HELP and TYPE" \
  [ "$(grep -c '^# HELP ' "$TMP/metrics")" = "$(grep -c '^# TYPE ' "$TMP/metrics")" -a \
    "$(grep -c '^# TYPE ' "$TMP/metrics")" = "$(grep -vc '^#' "$TMP/metrics")" ]
check "counters are typed as counters" grep -q '^# TYPE gatelog_tcp_started_total counter$' "$TMP/metrics"
check "gauges as gauges" grep -q '^# TYPE gatelog_tcp_open gauge$' "$TMP/metrics"
check "every counter's name ends in _total" \
  [ "$(grep '^# TYPE .* counter$' "$TMP/metrics" | grep -vc '_total counter$')" = 0 ]
check "units in the names, in base units" grep -q '^gatelog_retry_wait_seconds 0.000$' "$TMP/metrics"
check "no name from before the conventions" \
  [ "$(grep -cE '^gatelog_(tcp_started|bytes_json|retry_wait_ms|proxy_bytes_rx) ' "$TMP/metrics")" = 0 ]
check "the build's version" \
  grep -q '^gatelog_build_info{version="[0-9]*\.[0-9]*\.[0-9]*"} 1$' "$TMP/metrics"
# Prometheus's own linter: it exits non-zero on a problem (a counter
# without _total, a missing HELP, a bad unit) and says which.
promtool_ok=yes
promtool check metrics <"$TMP/metrics" >"$TMP/promtool.out" 2>&1 || promtool_ok=no
cat "$TMP/promtool.out" >&2
check "promtool check metrics accepts the live /metrics" [ "$promtool_ok" = yes -a ! -s "$TMP/promtool.out" ]
check "gatelog_stats values" grep -q '^gatelog_tcp_started_total 1$' "$TMP/metrics"
check "the proxy's connection counter" grep -q '^gatelog_proxy_tcp_accepted_total 1$' "$TMP/metrics"
check "the proxy's byte counters" \
  grep -q "^gatelog_proxy_rx_bytes_total $(field "$TMP/client.out" received)$" "$TMP/metrics"
check "the running script's identity" \
  grep -q "^gatelog_script_info{path=\"$FIXTURES/record.lua\",sha256=\"$(sha256sum "$FIXTURES/record.lua" | cut -c1-64)\"} 1$" "$TMP/metrics"
check "every sample line is NAME VALUE" \
  [ "$(grep -v '^#' "$TMP/metrics" | grep -cvE '^[a-z_]+(\{[^}]*\})? [0-9.]+$')" = 0 ]
check "another path is 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/other")" = 404 ]
check "POST is 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -d x "$url/metrics")" = 405 ]
check "the proxy exits 0" stop_proxy
done_testing
