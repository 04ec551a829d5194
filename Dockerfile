# roomserver: one node, WebSocket hub on port 8765.
#
#   docker build -t roomserver .
#   docker run --init -p 8765:8765 \
#       -e ROOMSERVER_POSTGRES_DSN=postgresql://user:password@db:5432/roomserver \
#       -e ROOMSERVER_JWT_SECRET=<the HS256 secret shared with the Casino System, >= 32 bytes> \
#       roomserver
#
# Production sets ROOMSERVER_POSTGRES_DSN and ROOMSERVER_JWT_SECRET. The config.toml copied into
# the image (/app/config.toml, read because /app is the working directory) holds the sandbox
# secret, which `roomserver run` refuses outside sandbox mode: without ROOMSERVER_JWT_SECRET the
# container exits with status 2. For other settings (allowed_origins above all) mount a config
# file and name it in the command:
#   docker run ... -v "$PWD/prod.toml:/etc/roomserver/config.toml:ro" \
#       roomserver roomserver --config /etc/roomserver/config.toml run
#
# Without ROOMSERVER_POSTGRES_DSN the node starts the embedded PostgreSQL with its data in
# /app/var/pg (mount a named volume on /app/var to keep it); `--init` reaps its processes.
# `docker stop` sends SIGTERM and the node drains for up to server.shutdown_grace_s (10 s), so
# give it longer than Docker's default 10 s: `docker stop -t 20`.
#
# With ROOMSERVER_POSTGRES_DSN the node waits for its database at startup, retrying for up to
# postgres.startup_retry_s (30 s), so it may start alongside the database.
#
# The internal side API (port 8766: tournaments, wallet callbacks, /health, /ready, /metrics)
# listens on the container's loopback only, where the HEALTHCHECK below reaches it. To reach it
# from other containers set ROOMSERVER_API_HOST=0.0.0.0 (config key api.host) and keep it on a
# private network shared only with the Casino's internal services; never publish 8766 on a
# public interface:
#   docker network create casino-internal
#   docker run --init -p 8765:8765 -e ROOMSERVER_API_HOST=0.0.0.0 --network casino-internal ...
#   (for the Docker host alone: -e ROOMSERVER_API_HOST=0.0.0.0 -p 127.0.0.1:8766:8766)
# The HEALTHCHECK asks the side API's /health; if api.port is not 8766, or the side API is off
# (api.enabled = false), set HEALTHCHECK_URL or run with --no-healthcheck.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group roomserver

WORKDIR /app
# README.md is part of the package metadata (pyproject.toml: readme), so it is copied too.
COPY . .
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && mkdir -p var \
    && chown roomserver:roomserver var

USER roomserver
# The public WebSocket listener. The side API (8766) is deliberately not exposed: see above.
EXPOSE 8765
ENV HEALTHCHECK_URL=http://127.0.0.1:8766/health
# Python's urllib, no proxy (the URL is local); any failure exits 1, which Docker counts as
# unhealthy. The start period covers a first start that initialises the embedded PostgreSQL.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open(os.environ['HEALTHCHECK_URL'], timeout=4).close()"]
CMD ["roomserver", "run"]
