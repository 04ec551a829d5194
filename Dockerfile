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
EXPOSE 8765
CMD ["roomserver", "run"]
