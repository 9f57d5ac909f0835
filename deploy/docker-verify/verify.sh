#!/usr/bin/env bash
# Build the runner image and check that the container runs healthy, on a machine where
# Docker Hub cannot be reached (so `python:3.11-slim` cannot be pulled).
#
#   sudo deploy/docker-verify/verify.sh            # from the repository root
#
# A stand-in for python:3.11-slim is built with debootstrap (Debian bookworm, python 3.11.2,
# Debian's pip 23.0.1) unless local/python:3.11-slim-standin exists already. It is NOT the
# official image: it is only a way to exercise the Dockerfile here. Set BASE_IMAGE to use a
# real python:3.11-slim (a registry mirror) instead.
#
# Checks: build; health status becomes healthy; /healthz /readyz /api/status /metrics; the
# container runs as uid 10001; the alert log is written in /app/data; a rule edit in a mounted
# rules.d hot-reloads ("rules reloaded"); TRADEASSIST_API_TOKEN protects /api/status while
# /healthz and the HEALTHCHECK stay open; a read-only root filesystem with no capabilities
# works; `docker stop` (SIGTERM) exits 0 with "runner stopped". Containers are removed at the
# end; the images are left.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
STANDIN=local/python:3.11-slim-standin
BASE_IMAGE=${BASE_IMAGE:-$STANDIN}
IMAGE=${IMAGE:-tradeassist-runner:verify}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PORT=${PORT:-18080}            # host ports PORT..PORT+3 are used
WORK=$(mktemp -d)
NAMES=(ta-verify ta-reload ta-token ta-ro)

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cleanup() { docker rm -f -v "${NAMES[@]}" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
cleanup; WORK=$(mktemp -d)

if [[ $BASE_IMAGE == "$STANDIN" ]] && ! docker image inspect "$STANDIN" >/dev/null 2>&1; then
    say "building the stand-in base $STANDIN with debootstrap"
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    ROOTFS=$WORK/rootfs
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
        bookworm "$ROOTFS" "$MIRROR"
    ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
    ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip"
    rm -f "$ROOTFS/usr/lib/python3.11/EXTERNALLY-MANAGED"   # behave like the official image
    # The host's extra CAs (e.g. a TLS-intercepting egress proxy), so pip can reach PyPI.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
        chroot "$ROOTFS" update-ca-certificates
    fi
    chroot "$ROOTFS" apt-get clean; rm -rf "$ROOTFS"/var/lib/apt/lists/*
    tar -C "$ROOTFS" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' - "$STANDIN"
    rm -rf "$ROOTFS"
fi

say "docker build (BASE_IMAGE=$BASE_IMAGE)"
DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$REPO"

wait_healthy() {  # name, seconds
    local s
    for _ in $(seq "$2"); do
        s=$(docker inspect -f '{{.State.Health.Status}}' "$1")
        [[ $s == healthy ]] && { echo "$1: healthy"; return 0; }
        [[ $(docker inspect -f '{{.State.Running}}' "$1") == true ]] || { docker logs "$1"; fail "$1 exited"; }
        sleep 1
    done
    docker logs "$1" | tail -20; fail "$1 not healthy after $2 s (status $s)"
}
code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$@"; }

say "run: default config, host network, port $PORT"
# Without a token the runner refuses a non-loopback bind; on the host network 127.0.0.1 is enough.
docker run -d --name ta-verify --network host -e TRADEASSIST_API_HOST=127.0.0.1 -e TRADEASSIST_API_PORT="$PORT" "$IMAGE" >/dev/null
cp -r "$REPO/config" "$REPO/rules.d" "$WORK/"; chmod -R a+rX "$WORK"
docker run -d --name ta-reload --network host -e TRADEASSIST_API_HOST=127.0.0.1 -e TRADEASSIST_API_PORT=$((PORT + 1)) \
    -v "$WORK/config:/app/config:ro" -v "$WORK/rules.d:/app/rules.d:ro" "$IMAGE" >/dev/null
docker run -d --name ta-token -p 127.0.0.1:$((PORT + 2)):8080 \
    -e TRADEASSIST_API_TOKEN=verify-secret "$IMAGE" >/dev/null
docker run -d --name ta-ro --read-only --cap-drop ALL --security-opt no-new-privileges \
    --network host -e TRADEASSIST_API_HOST=127.0.0.1 -e TRADEASSIST_API_PORT=$((PORT + 3)) "$IMAGE" >/dev/null
for c in "${NAMES[@]}"; do wait_healthy "$c" 150; done

say "endpoints"
for p in /healthz /readyz /api/status; do
    printf '%s -> ' "$p"; curl -sf -m 5 "http://127.0.0.1:$PORT$p" | cut -c1-200; echo
done
curl -sf -m 5 "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics" || fail "/metrics"
grep -v '^#' "$WORK/metrics" | head -3
[[ $(docker exec ta-verify id -u) == 10001 ]] || fail "not uid 10001"
docker exec ta-verify id
docker exec ta-verify ls -la /app/data
docker exec ta-verify test -s /app/data/alerts.sqlite || fail "no alert log in /app/data"

say "hot reload"
sed -i '0,/threshold: 5985/s//threshold: 5980/' "$WORK/rules.d/indices.yaml"
for _ in $(seq 30); do docker logs ta-reload 2>&1 | grep -q 'rules reloaded' && break; sleep 1; done
docker logs ta-reload 2>&1 | grep 'rules reloaded' || fail "no 'rules reloaded' line"

say "token"
[[ $(code "http://127.0.0.1:$((PORT + 2))/healthz") == 200 ]] || fail "/healthz should be open"
[[ $(code "http://127.0.0.1:$((PORT + 2))/api/status") == 401 ]] || fail "/api/status should need the token"
[[ $(code -H 'Authorization: Bearer verify-secret' "http://127.0.0.1:$((PORT + 2))/api/status") == 200 ]] \
    || fail "/api/status with the token"
echo "healthz 200 without token, api/status 401 without / 200 with; health: $(docker inspect -f '{{.State.Health.Status}}' ta-token)"

say "docker stop (SIGTERM)"
for c in "${NAMES[@]}"; do
    docker stop "$c" >/dev/null
    rc=$(docker inspect -f '{{.State.ExitCode}}' "$c")
    line=$(docker logs "$c" 2>&1 | grep 'runner stopped' || true)
    echo "$c exit=$rc  $line"
    [[ $rc == 0 && -n $line ]] || fail "$c did not stop cleanly"
done
say "all checks passed (base: $BASE_IMAGE)"
