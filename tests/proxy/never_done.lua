-- A policy whose send never answers: at the stop, its records cannot be
-- delivered within the drain deadline.
return {
  send = function(batch, done) end,
}
