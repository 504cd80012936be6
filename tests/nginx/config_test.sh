#!/bin/bash
# The configuration: nginx -t loads the script, and one that does not load
# fails it with the script's file and line and the gatelog_script line; a
# bad gatelog_option fails at its own line; a reload to a broken script
# keeps the running workers and their script.
. "$(dirname "$0")/lib.sh"

port=$($PEER freeport)
conf_with() {
  write_conf "
  gatelog_script $1;
  gatelog_option lua_path '$GATELOG_SOURCE_DIR/lua/?.lua';
  ${2:-}
  server { listen 127.0.0.1:$port; proxy_pass 127.0.0.1:1; gatelog on; }"
}

conf_with "$GATELOG_SOURCE_DIR/tests/proxy/record.lua"
check "nginx -t passes with a good script" nginx_cmd -t -q

printf 'return {\n  send = function(b, done)\n    done(true)\n  end\n  oops\n}\n' >"$TMP/broken.lua"
conf_with "$TMP/broken.lua"
out=$(nginx_cmd -t 2>&1) && fail "nginx -t passed with a broken script"
echo "$out" | sed 's/^/# /'
check "nginx -t names the script's file and line" grep -q "broken.lua:5" <<<"$out"
line_of() { grep -n "$1" "$NGINX_CONF" | cut -d: -f1; }
check "and the line of gatelog_script in nginx.conf" \
  grep -q "in $NGINX_CONF:$(line_of gatelog_script)\$" <<<"$(echo "$out" | head -1)"

conf_with "$GATELOG_SOURCE_DIR/tests/proxy/record.lua" "gatelog_option flush_interval soon;"
out=$(nginx_cmd -t 2>&1) && fail "nginx -t passed with a bad option"
check "a bad gatelog_option: its value, why, and its line" \
  grep -q "gatelog_option: flush_interval soon: must be a number of seconds.* in $NGINX_CONF:$(line_of soon)" <<<"$out"
conf_with "$GATELOG_SOURCE_DIR/tests/proxy/record.lua" "gatelog_option no_such_thing 1;"
out=$(nginx_cmd -t 2>&1) && fail "nginx -t passed with an unknown option"
check "an unknown option is named" grep -q 'no_such_thing: no such option' <<<"$out"

# A reload to a broken script: the master refuses it, the workers stay.
conf_with "$GATELOG_SOURCE_DIR/tests/proxy/record.lua"
start_nginx "$port" 2
before=$(workers)
conf_with "$TMP/broken.lua"
: >"$NGINX_LOG"
kill -HUP "$NGINX_PID" # nginx -s would parse the broken file itself and stop there
check "the reload is refused with the script's line" wait_for 20 grep -q "broken.lua:5" "$NGINX_LOG"
check "the old worker keeps running" [ "$(workers)" = "$before" ]
stop_nginx QUIT
done_testing
