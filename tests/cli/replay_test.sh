#!/bin/bash
# gatelog replay: a small recorded file gives exactly the expected records
# (times from the events, not the clock; UDP idle expiry on event time;
# batches sealed at batch_max and at the flush interval of event time;
# what is open at the end ends with "shutdown"), a summary, and clear
# errors for bad input.
. "$(dirname "$0")/../lib.sh"
events=$FIXTURES/events.ndjson
policy=$FIXTURES/policy.lua

"$CLI" replay --script "$policy" --ndjson "$events" >"$TMP/records" 2>"$TMP/err" ||
  fail "replay failed: $(cat "$TMP/err")"
check "exactly the expected records, in order (sessionIds aside)" \
  diff <(jq -c 'del(.sessionId)' "$TMP/records") "$FIXTURES/events.expected.ndjson"
check "each with its own 16-hex-digit sessionId" \
  [ "$(jq -r .sessionId "$TMP/records" | grep -cE '^[0-9a-f]{16}$')" = 4 -a \
    "$(jq -r .sessionId "$TMP/records" | sort -u | wc -l)" = 4 ]
check "a summary with sessions, kept, filtered, batches and bytes" \
  grep -qE '^replay: 12 events, 5 sessions \(3 tcp, 2 udp\), 4 kept, 1 filtered, 3 batches, [0-9]+ bytes of JSON, [0-9]+ compressed' "$TMP/err"

"$CLI" replay --script "$policy" "$events" >"$TMP/batches" 2>/dev/null || fail "replay failed"
# batch_max = 2 seals the first; the flush tick at 10:02:00 the second;
# the end the third.
check "batch lines, then their records" \
  [ "$(grep -o '^# batch [0-9]*: [0-9]* records\?' "$TMP/batches" | tr '\n' ,)" = \
    "# batch 1: 2 records,# batch 2: 1 record,# batch 3: 1 record," ]
check "the same records as --ndjson" \
  diff <(grep -v '^#' "$TMP/batches" | jq -c 'del(.sessionId)') "$FIXTURES/events.expected.ndjson"
check "standard input works too" \
  diff <("$CLI" replay --script "$policy" --ndjson - <"$events" 2>/dev/null | jq -c 'del(.sessionId)') \
    "$FIXTURES/events.expected.ndjson"
"$CLI" replay --script "$policy" --flush-interval 3600 "$events" >"$TMP/hourly" 2>/dev/null
check "a longer --flush-interval: no tick, the second batch is sealed at batch_max" \
  [ "$(grep -c '^# batch' "$TMP/hourly")" = 2 ]

# --out DIR: the payloads, as the script would send them.
"$CLI" replay --script "$policy" --out "$TMP/payloads" "$events" >"$TMP/stdout" 2>/dev/null || fail "--out failed"
check "--out writes one payload file a batch" [ "$(ls "$TMP/payloads" | tr '\n' ,)" = \
  "batch-000001.txt,batch-000002.txt,batch-000003.txt," ]
check "and prints no records" [ ! -s "$TMP/stdout" ]

# Bad input: file:line and what is wrong, exit 1.
printf '%s\n' '{"t":1,"ev":"start","id":"a","src":"10.0.0.1:1","dst":"10.0.0.2:2"}' \
  '{"t":2,"ev":"bytes","id":"a","tx":1}' '{"t":3,"ev":"bytes","id":"a",tx:1}' >"$TMP/bad.ndjson"
rc=0
"$CLI" replay --script "$policy" "$TMP/bad.ndjson" >/dev/null 2>"$TMP/err" || rc=$?
check "a line that is not JSON: exit 1" [ "$rc" = 1 ]
check "its file, line and column" \
  grep -q "bad.ndjson:3: line 1, column 30: expected a member name in double quotes, found 't'" "$TMP/err"
printf '%s\n' '{"t":1,"ev":"bytes","id":"ghost","tx":1}' '{"t":2,"ev":"end","id":"ghost"}' >"$TMP/ghost.ndjson"
rc=0
"$CLI" replay --script "$policy" "$TMP/ghost.ndjson" >/dev/null 2>"$TMP/err" || rc=$?
check "an unknown id is a warning, not a failure" [ "$rc" = 0 ]
check "named with its line, and counted" \
  grep -q 'ghost.ndjson:1: no open session has id "ghost"; skipped' "$TMP/err"
check "and counted in the summary" grep -q '2 events with unknown ids' "$TMP/err"
rc=0
"$CLI" replay --script "$TMP/none.lua" "$events" >/dev/null 2>"$TMP/err" || rc=$?
check "a script that does not load: exit 1" [ "$rc" = 1 ]
rc=0
"$CLI" replay "$events" >/dev/null 2>"$TMP/err" || rc=$?
check "no --script: exit 2" [ "$rc" = 2 ]

# The bounds: each refusal names the line and the reason, exit 1, and what
# the replay held stayed near the bound (a 64 MiB line is not read whole).
# replay_fails MESSAGE: the events on standard input are refused with it.
replay_fails() {
  local rc=0
  "$CLI" replay --script "$policy" - >/dev/null 2>"$TMP/err" || rc=$?
  [ "$rc" = 1 ] && grep -qF -- "gatelog replay: <stdin>:$1" "$TMP/err"
}
start='{"t":1,"ev":"start","id":"a","src":"10.0.0.1:1","dst":"10.0.0.2:2"'
long_line() { printf '%s\n' "$start}"; head -c $((64 << 20)) /dev/zero | tr '\0' ' '; printf 'x\n'; }
check "a line longer than 1 MiB" replay_fails "2: the line is longer than 1 MiB (the limit)" < <(long_line)
check "a time past 2200" replay_fails '1: "t" must be from 1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z' \
  <<<'{"t":999999999999999999,"ev":"end","id":"a"}'
check "an RFC 3339 time past 2200" replay_fails '1: "t" must be from 1970' \
  <<<'{"t":"2600-01-01T00:00:00Z","ev":"end","id":"a"}'
check "a date that does not exist" replay_fails '1: "t" must be seconds since the epoch or an RFC 3339 time' \
  <<<'{"t":"2026-02-30T00:00:00Z","ev":"end","id":"a"}'
check "a byte count past 2^53 - 1" replay_fails '1: "tx" must be an integer from 0 to 9007199254740991' \
  <<<"$start,\"tx\":9000000000000000000}"
check "a resource past 64 bits" replay_fails '1: "resource" must be an integer from -9223372036854775808' \
  <<<"$start,\"resource\":9223372036854775808}"
check "a session whose bytes would pass 2^53 - 1 in all" \
  replay_fails "3: the session's bytes would pass 2^53 - 1 = 9007199254740991 (the limit)" < <(
    printf '%s\n' "$start,\"tx\":4503599627370496}" '{"t":2,"ev":"bytes","id":"a","tx":4503599627370495}' \
      '{"t":3,"ev":"bytes","id":"a","tx":1}')
packet='{"t":1,"ev":"packet","src":"10.0.0.1:1","dst":"10.0.0.2:2","rx":4503599627370496}'
check "a UDP flow without ids, too (one session in the core)" \
  replay_fails "2: the session's bytes would pass 2^53 - 1" <<<"$packet"$'\n'"$packet"
check "an event of many values" replay_fails "1: line 1, column " < <(
  printf '{"t":1,"ev":"end","id":"a","x":['; for i in $(seq 70000); do printf '0,'; done; printf '0]}\n')
check "which says how many" grep -q "more than 65536 values" "$TMP/err"

# A UDP flow kept open for a year, a flush every millisecond, and events
# eleven days apart: a billion ticks to step through, jumped after 100000.
printf 'return { config = { udp_idle_timeout = 31536000 }, send = function(b, done) done(true) end }\n' >"$TMP/year.lua"
gap() { printf '{"t":%s,"ev":"packet","src":"10.0.0.1:1","dst":"10.0.0.2:2","tx":1}\n' 1 1000000; }
rc=0
timeout 60 "$CLI" replay --script "$TMP/year.lua" --flush-interval 0.001 --ndjson - < <(gap) >"$TMP/out" 2>"$TMP/err" || rc=$?
check "a long gap with a flow open does not step through every tick" [ "$rc" = 0 ]
check "the summary says it jumped" grep -q "1 gap of more than 100000 flush ticks jumped" "$TMP/err"
check "and the flow's record is whole" [ "$(jq -r '"\(.bytesTx) \(.endedAt)"' "$TMP/out")" = "2 1970-01-12T13:46:40Z" ]

# A larger input: 10000 TCP sessions through the default script, and the
# progress bar (forced: standard error is not a terminal here).
awk 'BEGIN { for (i = 0; i < 10000; i++) {
  printf "{\"t\":%d,\"ev\":\"start\",\"id\":\"s%d\",\"resource\":%d,\"src\":\"10.1.%d.%d:%d\",\"dst\":\"10.0.0.1:443\"}\n", 1795773600 + i, i, i % 7, i % 200, i % 250, 1024 + i
  printf "{\"t\":%d.5,\"ev\":\"bytes\",\"id\":\"s%d\",\"tx\":%d,\"rx\":%d}\n", 1795773600 + i, i, i, 2 * i
  printf "{\"t\":%d.75,\"ev\":\"end\",\"id\":\"s%d\"}\n", 1795773600 + i, i } }' >"$TMP/large.ndjson"
"$CLI" replay --script "$GATELOG_SOURCE_DIR/scripts/default.lua" --ndjson --progress \
  "$TMP/large.ndjson" >"$TMP/large.out" 2>"$TMP/err" || fail "the large replay failed"
check "10000 sessions give 10000 records" [ "$(wc -l <"$TMP/large.out")" = 10000 ]
check "whose bytes add up" [ "$(jq -s 'map(.bytesTx) | add' "$TMP/large.out") $(jq -s 'map(.bytesRx) | add' "$TMP/large.out")" = "49995000 99990000" ]
# One session a second: each 60 s of event time seals 60 records, before
# batch_max (100) is reached.
check "sealed every 60 s of event time: 167 batches" grep -q "10000 kept, 0 filtered, 167 batches" "$TMP/err"
check "with a progress bar that reaches 100%" grep -q '\] 100%  30000 events' "$TMP/err"
done_testing
