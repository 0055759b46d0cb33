#!/usr/bin/env bash
# Run a command (the Porchlight demo) with a throwaway coturn beside it, when coturn is installed.
#
#   deploy/demo_turn.sh COMMAND [ARG...]
#
# coturn runs the production configuration, deploy/coturn/turnserver.conf, with only what a
# demo on this machine needs changed on the command line: it listens on 127.0.0.1:3478 with a
# random shared secret, which is handed to the command as PORCHLIGHT_TURN_HOST/PORT/SECRET, and
# relays to 127.0.0.1 because in the demo both browsers are on this machine: NEVER add that
# allowance in production. coturn is stopped when the command ends or on Ctrl-C. Without coturn
# the command runs alone.
set -euo pipefail

TURN_HOST=127.0.0.1
TURN_CONFIG="$(cd "$(dirname "$0")" && pwd)/coturn/turnserver.conf"
TURN_PORT=${PORCHLIGHT_DEMO_TURN_PORT:-3478}
STATE_DIR=${PORCHLIGHT_DEMO_DIR:-.porchlight}
NO_TURN="calls will use direct connections only"

turn_pid=""

stop_turn() {
  [ -n "$turn_pid" ] || return 0
  kill -TERM "$turn_pid" 2>/dev/null || return 0
  for _ in $(seq 50); do  # up to 5 s, then kill
    kill -0 "$turn_pid" 2>/dev/null || { wait "$turn_pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$turn_pid" 2>/dev/null || true
  wait "$turn_pid" 2>/dev/null || true
}

accepts() {
  (exec 3<>"/dev/tcp/$TURN_HOST/$TURN_PORT") 2>/dev/null
}

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

if ! command -v turnserver >/dev/null 2>&1; then
  echo "TURN: coturn is not installed (apt-get install coturn); $NO_TURN"
elif accepts; then
  echo "TURN: $TURN_HOST:$TURN_PORT is already in use; $NO_TURN"
else
  mkdir -p "$STATE_DIR"
  secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  trap stop_turn EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # The file's options first, then these, which override them. coturn refuses loopback peers
  # before it reads any list, and allowed-peer-ip wins over the file's denied-peer-ip ranges:
  # so exactly 127.0.0.1 becomes reachable, and nothing else the file refuses.
  turnserver -c "$TURN_CONFIG" \
    --listening-ip="$TURN_HOST" --relay-ip="$TURN_HOST" --listening-port="$TURN_PORT" \
    --min-port=49160 --max-port=49260 \
    --static-auth-secret="$secret" --realm=porchlight.demo \
    --allow-loopback-peers --allowed-peer-ip="$TURN_HOST" \
    --pidfile="$STATE_DIR/turnserver.pid" --userdb="$STATE_DIR/turndb" \
    --proc-user="$(id -un)" --proc-group="$(id -gn)" \
    >"$STATE_DIR/turnserver.log" 2>&1 &
  turn_pid=$!
  for _ in $(seq 100); do  # up to 10 s for coturn to accept
    accepts && break
    kill -0 "$turn_pid" 2>/dev/null || break
    sleep 0.1
  done
  if accepts; then
    echo "TURN: coturn on $TURN_HOST:$TURN_PORT"
    export PORCHLIGHT_TURN_HOST="$TURN_HOST" PORCHLIGHT_TURN_PORT="$TURN_PORT"
    export PORCHLIGHT_TURN_SECRET="$secret"
  else
    stop_turn
    turn_pid=""
    echo "TURN: coturn did not start (see $STATE_DIR/turnserver.log); $NO_TURN"
  fi
fi

# Not exec: this shell stays to stop coturn when the command ends.
"$@"
