"""`make bench`: our server and every peer under the same load generator, side by side.

Starts roomserver (sandbox) on its own ports, runs each loadtest scenario against it with
`--server-pid`, then the same fan-out job against every peer in bench/peers, and pgbench's
one-row update on the same PostgreSQL. The fan-out step is the peers' job on our wire: a member
publishes a payload (`--wire roomserver-bench`, on a node with `server.bench_publish`) and every
member of the room receives it; `fanout_spins` is the fan-out of spins (each committed, a
leaderboard push per change). Reports go to .bench/results/: one JSON per run, summary.json,
summary.md (the tables BENCHMARKS.md quotes) and the plots.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import PEERS, REPO, start_peer, stop_peer

PYTHON = str(REPO / ".venv" / "bin" / "python")
RESULTS = REPO / ".bench" / "results"
WS_PORT = 18765
API_PORT = 18766
PEER_PORT = 18800
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/roomserver_bench"


def main() -> int:
    """Run the wanted steps (all by default), then write the summary and the plots."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small numbers (a smoke run)")
    parser.add_argument("--only", nargs="*", help="run only these steps (idle fanout spins ...)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    scale = 0.1 if args.quick else 1.0
    fanout = [
        "--connections", str(int(1000 * scale) or 20), "--rooms", "10",
        "--rate", "200", "--duration", str(15 * scale if args.quick else 15),
    ]  # fmt: skip
    steps: dict[str, list[str]] = {
        # 19,900 members of one room (a node under a hard limit of 20,000 open files keeps the
        # rest for its listeners and database); four source addresses keep client ports apart.
        "idle": [
            "idle", "--connections", str(int(19900 * scale)), "--duration", "10",
            "--source-addresses", "4",
        ],
        "fanout": ["fanout", *fanout, "--wire", "roomserver-bench"],
        "fanout_spins": ["fanout", *fanout],
        "spins": ["spins", "--connections", "100", "--rate", "1000", "--duration", "10"],
        "spins_max": ["spins", "--connections", "200", "--rate", "max", "--duration", "5"],
        "reconnect": [
            "reconnect", "--connections", str(int(1000 * scale)), "--rooms", "10",
            "--rate", "50", "--duration", "6",
        ],
    }  # fmt: skip
    wanted = set(args.only or [*steps, *PEERS, "pgbench"])
    dsn = os.environ.get("BENCH_POSTGRES_DSN", DEFAULT_DSN)
    database_ready = _ensure_database(dsn)
    summary: dict[str, object] = {"machine": _machine(), "runs": {}}
    runs: dict[str, object] = {}

    for name in [name for name in steps if name in wanted]:
        # A fresh node per scenario (idle's RSS starts from an empty node). The fan-out node
        # takes `bench.publish`, the peers' event; the spin fan-out node pushes on every
        # leaderboard change (leaderboard_hz 1000) so a spin that moves a rank is a frame; the
        # others run the shipped config (4 pushes a second a room).
        server = _start_roomserver(
            dsn if database_ready else "",
            leaderboard_hz=1000.0 if name == "fanout_spins" else None,
            bench_publish=name == "fanout",
        )
        try:
            target = [
                "--url", f"ws://127.0.0.1:{WS_PORT}/ws",
                "--api-url", f"http://127.0.0.1:{API_PORT}",
            ]  # fmt: skip
            runs[name] = _loadtest(name, [*steps[name], *target], server.pid)
        finally:
            _stop(server)
    for name, peer in PEERS.items():
        if name not in wanted:
            continue
        if peer.missing():
            print(f"bench: {name} is not installed (make bench-peers); skipped", file=sys.stderr)
            continue
        process = start_peer(name, PEER_PORT, stdout=subprocess.DEVNULL)
        try:
            runs[f"fanout_{name}"] = _loadtest(
                f"fanout_{name}",
                ["fanout", *fanout, "--wire", peer.wire, "--url", peer.url(PEER_PORT)],
                process.pid,
            )
        finally:
            stop_peer(process)
    if "pgbench" in wanted and database_ready:
        runs["pgbench"] = _pgbench(dsn, duration_s=10)
    summary["runs"] = runs
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "summary.md").write_text(_summary_markdown(runs))
    _plots(runs)
    print((RESULTS / "summary.md").read_text())
    return 0


def _start_roomserver(
    dsn: str, leaderboard_hz: float | None, *, bench_publish: bool = False
) -> "subprocess.Popen[bytes]":
    config = (REPO / "config.toml").read_text()
    config = re.sub(r"(?m)^port = 8765$", f"port = {WS_PORT}", config)
    config = re.sub(r"(?m)^port = 8766$", f"port = {API_PORT}", config)
    if leaderboard_hz is not None:
        config = re.sub(r"(?m)^leaderboard_hz = .*$", f"leaderboard_hz = {leaderboard_hz}", config)
    if bench_publish:
        config, count = re.subn(r"(?m)^bench_publish = .*$", "bench_publish = true", config)
        if count != 1:
            raise RuntimeError("config.toml has no `bench_publish` line under [server]")
    config = config.replace('"var/events.jsonl"', '".bench/events.jsonl"')
    # No demo casino: its listeners are not measured and its ports may be taken.
    config = re.sub(r"(?ms)^(\[demo\].*?^enabled = )true$", r"\1false", config)
    path = REPO / ".bench" / "roomserver.toml"
    path.write_text(config)
    env = {**os.environ}
    if dsn:
        env["ROOMSERVER_POSTGRES_DSN"] = dsn
    log = (RESULTS / "roomserver.log").open("wb")
    process = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "roomserver"), "--config", str(path), "run", "--sandbox"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"roomserver exited ({process.returncode}); see {log.name}")
        if "side API listening" in Path(log.name).read_text(errors="replace"):
            return process
        time.sleep(0.3)
    _stop(process)
    raise RuntimeError("roomserver did not start within 120 s")


def _stop(process: "subprocess.Popen[bytes]") -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _loadtest(name: str, args: list[str], pid: int) -> dict[str, object]:
    report = RESULTS / f"{name}.json"
    plot = RESULTS / f"{name}.png"
    command = [
        PYTHON, "-m", "loadtest", *args, "--server-pid", str(pid),
        "--report", str(report), "--plot", str(plot), "--quiet",
    ]  # fmt: skip
    print(f"bench: {name}: {' '.join(command[1:])}", file=sys.stderr)
    subprocess.run(command, cwd=REPO, check=False, stdout=subprocess.DEVNULL, timeout=1800)
    if not report.exists():
        return {"failed": True}
    result: dict[str, object] = json.loads(report.read_text())
    result.pop("histogram", None)
    result["command"] = "python -m loadtest " + " ".join(args)
    return result


def _ensure_database(dsn: str) -> bool:
    """Create the benchmark database on the system PostgreSQL; False when there is none."""
    if shutil.which("psql") is None:
        return False
    base, _, name = dsn.rpartition("/")
    probe = subprocess.run(
        ["psql", f"{base}/postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return False
    if probe.stdout.strip() != "1":
        subprocess.run(["psql", f"{base}/postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True)
    return True


def _pgbench(dsn: str, duration_s: int) -> dict[str, object]:
    """TPS of a one-row UPDATE (random row of 100,000), 8 clients, on the same PostgreSQL."""
    if shutil.which("pgbench") is None:
        return {"skipped": "pgbench not found"}
    subprocess.run(
        ["psql", dsn, "-qc",
         "DROP TABLE IF EXISTS bench_accounts; "
         "CREATE TABLE bench_accounts (id int PRIMARY KEY, balance bigint NOT NULL); "
         "INSERT INTO bench_accounts SELECT g, 0 FROM generate_series(1, 100000) g;"],
        check=True,
    )  # fmt: skip
    script = RESULTS / "pgbench_update.sql"
    script.write_text(
        "\\set id random(1, 100000)\n"
        "UPDATE bench_accounts SET balance = balance + 1 WHERE id = :id;\n"
    )
    command = ["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(duration_s), "-f", str(script), dsn]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    tps = float(re.search(r"tps = ([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    return {"tps": round(tps, 1), "latency_avg_ms": latency, "command": " ".join(command[:-1])}


def _machine() -> dict[str, object]:
    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout
        except OSError:
            return ""

    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "cpu": cpu.group(1) if cpu else "",
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "node": run("node", "--version").strip(),
        "postgres": run("psql", "--version").strip(),
        "kernel": run("uname", "-r").strip(),
    }


def _get(run: object, key: str) -> float:
    if isinstance(run, dict):
        value = run.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def _summary_markdown(runs: dict[str, object]) -> str:
    lines = [
        "| run | connections | events/s asked | events/s done | frames | frames/s | server CPU s "
        "| frames per server CPU-s | p50 ms | p99 ms | p99.9 ms | gaps | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        if not isinstance(run, dict) or "scenario" not in run:
            continue
        server = run.get("server") or {}
        lines.append(
            f"| {name} | {run['connections']} | {run['target_rate']} | {run['achieved_rate']} "
            f"| {run.get('frames_delivered', 0)} | {run.get('frames_per_s', 0)} "
            f"| {server.get('cpu_s', '')} | {run.get('frames_per_server_cpu_s', '')} "
            f"| {run['p50_ms']} | {run['p99_ms']} | {run['p999_ms']} | {run['gaps']} "
            f"| {sum(run['errors'].values())} |"
        )
    ours = runs.get("fanout")
    ratio_lines = ["", "| ours / peer, frames per server CPU-second | ratio |", "|---|---|"]
    mine = _get(ours, "frames_per_server_cpu_s")
    for name in PEERS:
        theirs = _get(runs.get(f"fanout_{name}"), "frames_per_server_cpu_s")
        if mine and theirs:
            ratio_lines.append(f"| roomserver / {name} | {mine / theirs:.2f}x |")
    pgbench = runs.get("pgbench")
    spins = runs.get("spins_max")
    if isinstance(pgbench, dict) and pgbench.get("tps") and _get(spins, "achieved_rate"):
        ratio_lines.append(
            f"| spins/s (rate max) / pgbench one-row-update TPS "
            f"| {_get(spins, 'achieved_rate') / float(pgbench['tps']):.2f}x |"
        )
    idle = runs.get("idle")
    if isinstance(idle, dict) and isinstance(idle.get("server"), dict):
        ratio_lines.append(
            f"| idle: server RSS per connection | {idle['server'].get('rss_per_connection_kib')} "
            "KiB |"
        )
    return "\n".join(lines + ratio_lines) + "\n"


def _plots(runs: dict[str, object]) -> None:
    sys.path.insert(0, str(REPO))
    from loadtest.plot import plot_report
    from loadtest.report import read_report

    # The same job only: ours on the bench wire beside each peer (not the spin fan-out).
    fanout = {
        name.removeprefix("fanout_") if name != "fanout" else "roomserver": read_report(
            RESULTS / f"{name}.json"
        )
        for name in runs
        if (name == "fanout" or name.removeprefix("fanout_") in PEERS)
        and (RESULTS / f"{name}.json").exists()
    }
    if fanout:
        plot_report(fanout, RESULTS / "fanout_side_by_side.png", "fan-out push delay, same job")


if __name__ == "__main__":
    sys.exit(main())
