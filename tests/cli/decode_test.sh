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
# The bounds: 16 MiB of payload, 16 MiB of JSON, 1048576 values.
# zlib_zeros MIB: that many MiB of zeros, deflated a MiB at a time.
zlib_zeros() {
  luajit -e "local d, mib = require('zlib').deflate(), string.rep('\\0', 1048576)
    for _ = 1, $1 do io.write((d(mib))) end
    io.write((d('', 'finish')))"
}
bomb=$(zlib_zeros 256 | base64 -w0)
check "a payload that inflates past 16 MiB (a zlib bomb)" decode_fails \
  "zlib: the JSON inflates to more than 16 MiB (the limit)" "$bomb"
check "a payload larger than 16 MiB" decode_fails "the payload is larger than 16 MiB (the limit)" \
  "$(head -c $((17 << 20)) /dev/zero | tr '\0' A)"
values=$(luajit -e 'io.write("[" .. string.rep("0,", 1048576) .. "0]")' | deflate | base64 -w0)
check "JSON of more than 1048576 values" decode_fails "JSON: line 1, column 2097152: more than 1048576 values" "$values"
rss() { /usr/bin/time -f %M "$CLI" decode - 2>&1 >/dev/null <<<"$1" | tail -n 1; }
if [ -x /usr/bin/time ]; then
  check "refusing the 256 MiB bomb took less than 100 MB" [ "$(rss "$bomb")" -lt 100000 ]
fi
rc=0
"$CLI" decode --pretty >/dev/null 2>&1 || rc=$?
check "an unknown option: exit 2" [ "$rc" = 2 ]
done_testing
