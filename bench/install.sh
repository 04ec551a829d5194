#!/usr/bin/env bash
# Install the libraries of the fan-out benchmark's peers into .bench/ (git-ignored).
#
#   .bench/node   Node.js peers (ws, Colyseus): `npm ci` of bench/peers/package-lock.json
#   .bench/venv   python-socketio peer: a virtualenv from bench/peers/requirements.txt
#
# The bare websockets peer runs on the project's .venv and needs nothing more.
# Idempotent: each part is skipped while its stamp matches the pinned manifest it came from.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH=.bench
PEERS=bench/peers

stamp_of() {
    cat "$@" | sha256sum | cut -d' ' -f1
}

up_to_date() { # STAMP_FILE HASH
    [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

# ---- Node.js: ws, Colyseus
command -v node >/dev/null || { echo "bench/install.sh: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "bench/install.sh: npm is required" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "bench/install.sh: node >= 20 is required (found $(node --version))" >&2
    exit 1
fi
node_hash=$(stamp_of "$PEERS/package.json" "$PEERS/package-lock.json")
if up_to_date "$BENCH/node/.installed" "$node_hash"; then
    echo "node peers: up to date ($BENCH/node)"
else
    echo "node peers: installing into $BENCH/node"
    mkdir -p "$BENCH/node"
    cp "$PEERS/package.json" "$PEERS/package-lock.json" "$BENCH/node/"
    # `npm install` from the lock file (not `npm ci`, which insists on lock entries for the
    # optional binaries of every other platform). The native add-ons (bufferutil,
    # msgpackr-extract) ship prebuilt binaries loaded at run time: no install script runs.
    (cd "$BENCH/node" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$node_hash" > "$BENCH/node/.installed"
fi

# ---- Python: python-socketio on aiohttp
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then
        PYTHON=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
    else
        PYTHON=python3
    fi
fi
venv_hash=$(stamp_of "$PEERS/requirements.txt")
if up_to_date "$BENCH/venv/.installed" "$venv_hash"; then
    echo "python-socketio peer: up to date ($BENCH/venv)"
else
    echo "python-socketio peer: installing into $BENCH/venv"
    [ -x "$BENCH/venv/bin/python" ] || "$PYTHON" -m venv "$BENCH/venv"
    "$BENCH/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$PEERS/requirements.txt"
    echo "$venv_hash" > "$BENCH/venv/.installed"
fi

# ---- websockets: the project's environment
if ! .venv/bin/python -c 'import msgspec, uvloop, websockets' 2>/dev/null; then
    echo "bench/install.sh: .venv lacks websockets, uvloop or msgspec (run make first)" >&2
    exit 1
fi
echo "websockets peer: uses .venv (websockets $(.venv/bin/python -c 'import websockets; print(websockets.__version__)'))"
