# TradeAssist runner: `tradeassist run` with the HTTP API, on python:3.11-slim, as a non-root user.
#
#   docker build -t tradeassist-runner .
#   docker run --rm -p 127.0.0.1:8080:8080 -e TRADEASSIST_API_TOKEN=$(openssl rand -hex 32) \
#       -v "$PWD/config:/app/config:ro" -v "$PWD/rules.d:/app/rules.d:ro" -v tradeassist-data:/app/data \
#       tradeassist-runner
#
# Mounts: /app/config (config.yaml), /app/rules.d (rule files; edits hot-reload), /app/data
# (alert log, Parquet, state snapshots, Schwab token: keep it on a volume). The image ships
# the repository's config/ and rules.d/ as defaults, so it also runs with no mount at all.
# Secrets come from the environment only (TRADEASSIST_API_TOKEN, TRADEASSIST_SCHWAB_APP_KEY,
# TRADEASSIST_SCHWAB_APP_SECRET, notification URLs' ${VARS}); nothing secret is baked in.
# BASE_IMAGE lets the image be built from a registry mirror or a local stand-in.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 tradeassist \
 && useradd --system --uid 10001 --gid tradeassist --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin tradeassist

# The package (README.md is the project's `readme`, needed to build it) with its extras:
# schwab for the live feed, server for the API, /metrics and the WebSocket. Built from a
# scratch folder that is removed, so only the installed copy is left in the image.
COPY pyproject.toml README.md /src/
COPY tradeassist_runner /src/tradeassist_runner
RUN pip install '/src[schwab,server]' \
 && rm -rf /src

WORKDIR /app

# Default config and rules (mount your own over them); data/ belongs to the runtime user.
COPY config ./config
COPY rules.d ./rules.d
COPY schema ./schema
RUN mkdir -p /app/data && chown tradeassist:tradeassist /app/data

# The API binds 127.0.0.1 by default so that, on a host, nothing outside the machine can
# reach it. Inside a container 127.0.0.1 is the container's own loopback: a published port
# (-p 8080:8080), the Kubernetes kubelet and Prometheus all connect through the container's
# network interface, so here it must listen on 0.0.0.0. What is reachable from outside is
# then decided by the port publishing (-p 127.0.0.1:8080:8080) or the cluster network. On
# 0.0.0.0 the runner refuses to start without TRADEASSIST_API_TOKEN (docker run -e ...),
# unless the config sets api.allow_unauthenticated: true (a proxy in front authenticates).
ENV TRADEASSIST_API_ENABLED=true \
    TRADEASSIST_API_HOST=0.0.0.0 \
    TRADEASSIST_API_PORT=8080
EXPOSE 8080
VOLUME ["/app/data"]

USER tradeassist

# Liveness through /healthz (open without the token). The slim image has no curl, so Python
# asks; the empty ProxyHandler keeps an HTTP(S)_PROXY variable from routing 127.0.0.1 away.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('TRADEASSIST_API_PORT', '8080'), timeout=4)" || exit 1

# SIGTERM (docker stop, Kubernetes) flushes the alert log and snapshots state; SIGHUP reloads.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tradeassist"]
CMD ["run", "/app/config/config.yaml"]
