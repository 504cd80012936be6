-- bench/nginx.sh's policy: every batch is built and compressed as usual,
-- then acknowledged at once (a sink that costs nothing).
return {
  send = function(batch, done) done(true) end,
}
