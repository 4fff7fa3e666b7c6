# Sourced by scripts/rehearsal.sh and scripts/cuda-images.sh (needs STATE and LOCAL_BASE): makes sure a Docker daemon
# answers at DOCKER_HOST (default socket), starting one without touching the host network (no bridge, no iptables
# rules) and stopping it by PID when the calling script exits; sets `base` to BASE_IMAGE (default python:3.11-slim)
# or, where that cannot be pulled, to a local Debian bookworm image made with debootstrap (scripts/base-image.sh).
socket="${DOCKER_HOST:-unix:///var/run/docker.sock}"
export DOCKER_HOST="$socket"
started_pid=""
stop_daemon() {
  if [ -n "$started_pid" ]; then
    kill "$started_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$started_pid" 2>/dev/null || break; sleep 1; done
    echo "stopped dockerd (pid $started_pid)"
  fi
}
trap stop_daemon EXIT
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || { echo "no Docker daemon answers at $socket and dockerd is not installed (apt-get install docker.io)" >&2; exit 2; }
  dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.pid" -H "$socket" \
    >"$STATE/dockerd.log" 2>&1 &
  started_pid=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$STATE/dockerd.log"; echo "dockerd did not start" >&2; exit 1; }
  echo "started dockerd (pid $started_pid) at $socket; its log: $STATE/dockerd.log"
fi

base="${BASE_IMAGE:-python:3.11-slim}"
if ! docker image inspect "$base" >/dev/null 2>&1; then
  base="$LOCAL_BASE"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    echo "making the local base image $base (debootstrap bookworm)"
    bash scripts/base-image.sh "$base"
  fi
fi


