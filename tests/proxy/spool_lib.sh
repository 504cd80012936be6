# Shared by the spool tests (spool_*_test.sh), sourced after ../lib.sh.

# spool_checked WHY: hold what the sink received ($GATELOG_OUTPUT, written
# by spool_sink.lua) against the sessions the clients completed
# ($TMP/clients.RUN.N) and the kills ($TMP/kills, none if absent) with
# spool_check.lua; print its figures, or fail with WHY.
spool_checked() {
  [ -f "$TMP/kills" ] || : >"$TMP/kills"
  local figures
  figures=$(luajit "$FIXTURES/spool_check.lua" "$GATELOG_OUTPUT" "$TMP/kills" "$TMP"/clients.*) ||
    { echo "$figures"; fail "$1"; }
  echo "# $figures"
}

# drained: nothing is left to send, in memory or on disk.
drained() { metric_is gatelog_spool_batches 0 && metric_is gatelog_records_queued 0; }
