# Starting and stopping one server at a time for the side-by-side scripts (sourced, not
# run): `start NAME HEALTH-URL COMMAND…` runs it in its own process group, logging to
# $work/NAME.log, until HEALTH-URL answers; `stop` ends it and its children. The script
# that sources this sets `work` and traps EXIT with `stop`.
server=

stop() {
  if [ -n "$server" ]; then
    kill -- "-$server" 2>/dev/null || kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}

start() {
  local name=$1 health=$2
  shift 2
  setsid "$@" >"$work/$name.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$health" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$name did not come up; see $work/$name.log" >&2
  exit 1
}
