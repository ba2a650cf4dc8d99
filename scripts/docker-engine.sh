# Sourced by the Docker scripts: `start_engine` starts Docker's engine when none runs (installing
# docker.io and docker-compose first where they are missing); `stop_engine` stops only an engine
# that `start_engine` started, so a script leaves the machine as it found it.
DOCKERD_PID=
start_engine() {
  if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || apt-get install -y -q docker.io >/dev/null
    dockerd >"${DOCKERD_LOG:-/dev/null}" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  command -v docker-compose >/dev/null || apt-get install -y -q docker-compose >/dev/null
}
stop_engine() {
  [ -z "$DOCKERD_PID" ] && return 0
  kill "$DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || return 0; sleep 1; done
}
