#!/bin/bash
# gatelog decode round-trips payloads the core produced (written by replay
# --out): its output is the JSON an independent decoder (coreutils base64,
# lua-zlib) finds in them. A payload that does not decode names the stage.
. "$(dirname "$0")/../lib.sh"

"$CLI" replay --script "$FIXTURES/policy.lua" --out "$TMP/p" "$FIXTURES/events.ndjson" 2>/dev/null ||
  fail "replay --out failed"
inflate() { luajit -e 'local out = require("zlib").inflate()(io.read("*a")); io.write(out)'; }
deflate() { luajit -e 'local out = require("zlib").deflate()(io.read("*a"), "finish"); io.write(out)'; }

n=0
for f in "$TMP"/p/batch-*.txt; do
  n=$((n + 1))
  base64 -d <"$f" | inflate >"$TMP/json$n"
  "$CLI" decode --ndjson - <"$f" >"$TMP/ndjson$n" || fail "decode --ndjson of batch $n failed"
  check "batch $n: --ndjson gives the payload's records byte for byte" \
    [ "[$(paste -sd, "$TMP/ndjson$n")]" = "$(cat "$TMP/json$n")" ]
  "$CLI" decode "$(cat "$f")" >"$TMP/pretty$n" || fail "decode of batch $n failed"
  check "batch $n: the indented form is the same JSON" \
    [ "$(jq -cS . "$TMP/pretty$n")" = "$(jq -cS . "$TMP/json$n")" ]
  check "batch $n: indented two spaces, a record's keys on their own lines" \
    grep -q '^    "bytesTx": [0-9]*,$' "$TMP/pretty$n"
done
check "the three batches hold the replay's four records" \
  diff <(cat "$TMP"/ndjson* | jq -c 'del(.sessionId)') "$FIXTURES/events.expected.ndjson"

# decode_fails STAGE-MESSAGE PAYLOAD: exit 1 with that message.
decode_fails() {
  local rc=0
  printf '%s' "$2" | "$CLI" decode >/dev/null 2>"$TMP/err" || rc=$?
  [ "$rc" = 1 ] && grep -qF "gatelog decode: $1" "$TMP/err"
}
good=$(cat "$TMP/p/batch-000001.txt")
check "not base64" decode_fails "base64: '!' at offset 4 is not in the alphabet" "eJzL!"
check "cut short in the base64" decode_fails "base64: " "${good%?}"
check "cut short in the zlib stream" decode_fails "zlib: the stream is truncated" "${good:0:40}"
check "not zlib" decode_fails "zlib: incorrect header check" "$(printf 'plain text' | base64)"
check "not JSON" decode_fails "JSON: line 1, column 7: " "$(printf '[{"a":}]' | deflate | base64 -w0)"
check "JSON, but not an array of records" decode_fails "JSON: the payload is an object, not an array of records" \
  "$(printf '{"a":1}' | deflate | base64 -w0)"
check "empty" decode_fails "base64: the payload is empty" ""
rc=0
"$CLI" decode --pretty >/dev/null 2>&1 || rc=$?
check "an unknown option: exit 2" [ "$rc" = 2 ]
done_testing
