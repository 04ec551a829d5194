"""Spins against pgbench's TPC-B-like on one PostgreSQL, side by side, in one script.

Seven jobs, one after another, each RUNS times in turn (median, min, max):

- `tpcb`: pgbench's built-in TPC-B-like transaction (scale 10) in its own database;
- `update`: a one-row UPDATE of a random row of 100,000 (the floor of any write);
- `spin`: `place_spin` called straight from pgbench (no Python): a random player of 1,000
  registered in one running tournament, stake 100, a win on 3 spins in 10, a fresh key and nonce;
- `node_max`: a roomserver node (`run --sandbox`, the shipped config: spins batched up to 64 per
  call when they queue up; its own fresh database) and the load generator
  spinning open-loop at 5,000 a second, more than the node can answer here (200 connections):
  the spins per second it answers are its saturation throughput;
- `node_1000`: the same at 1,000 spins a second (100 connections), for the latency;
- `node_max_alone`, `node_1000_alone`: both again with `postgres.spin_batch_max = 1` (every spin
  its own call and transaction).

For the node jobs, also the node's own CPU per spin and the spin reply time (p50, p99).

Besides TPS, PostgreSQL's CPU per transaction: the user+system time of every `postgres` process
on this machine over the run (so run it when nothing else uses PostgreSQL). From the project
root, with the virtualenv installed:

    .venv/bin/python bench/spin_ceiling.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roomserver.store.migrate import migrate

TPCB_DB = "roomserver_tpcb"
NODE_DB = "roomserver_spin_node"
REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python")
TOURNAMENT = "ceiling"
PLAYERS = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SPIN_SCRIPT = f"""\\set p random(1, {PLAYERS})
\\set r random(0, 9)
\\set win case when :r >= 7 then (:r - 5) * 100 else 0 end
SELECT status FROM place_spin('{TOURNAMENT}', 'p' || :p, 'k' || nextval('ceiling_keys'),
  '\\x00'::bytea, '{{}}'::jsonb, gen_random_uuid(), gen_random_uuid(), 100, :win, 'seed',
  nextval('ceiling_nonces'), 'v1', '{{"outcome": {{}}}}'::jsonb);
"""

UPDATE_SCRIPT = """\\set id random(1, 100000)
UPDATE bench_accounts SET balance = balance + 1 WHERE id = :id;
"""


def postgres_cpu_s() -> float:
    """User + system CPU seconds of every `postgres` process, the exited backends included.

    A backend that exits is reaped by the postmaster, whose children's times then hold its CPU.
    """
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name != "postgres" and not name.startswith("postgres:"):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLOCK_TICKS


async def prepare(admin_dsn: str, spin_db: str) -> tuple[str, str]:
    """Fresh databases for the spin and TPC-B jobs; returns their DSNs."""
    base = admin_dsn.rpartition("/")[0]
    admin = await asyncpg.connect(admin_dsn)
    try:
        for name in (spin_db, TPCB_DB, NODE_DB):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    spin_dsn, tpcb_dsn = f"{base}/{spin_db}", f"{base}/{TPCB_DB}"
    connection = await asyncpg.connect(spin_dsn)
    try:
        await migrate(connection)
        await connection.execute(
            """INSERT INTO tournaments (tournament_id, kind, name, game_id, currency, buy_in,
                   starting_chips, min_stake, max_stake, max_players, scoring, prizes,
                   leaderboard_size, status, starts_at, ends_at, server_seed, server_seed_hash)
               VALUES ($1, 'scheduled', 'ceiling', 'slot', 'EUR', 0, 1000000000000, 1, 1000,
                       100000, 'total_win', '[]', 10, 'running', now(), now() + interval '1 day',
                       'seed', 'hash');
               INSERT INTO accounts (kind, owner_id, scope, currency)
               VALUES ('prize_pool', $1, $1, 'EUR'), ('house_chips', 'house', $1, 'EUR');
               CREATE SEQUENCE ceiling_keys; CREATE SEQUENCE ceiling_nonces;""".replace(
                "$1", f"'{TOURNAMENT}'"
            )
        )
        await connection.executemany(
            "INSERT INTO players (player_id, name, currency) VALUES ($1, $1, 'EUR')",
            [(f"p{n}",) for n in range(1, PLAYERS + 1)],
        )
        for n in range(1, PLAYERS + 1):
            await connection.execute("SELECT register_player($1, $2, false)", TOURNAMENT, f"p{n}")
        await connection.execute(
            """CREATE TABLE bench_accounts (id int PRIMARY KEY, balance bigint NOT NULL);
               INSERT INTO bench_accounts SELECT g, 0 FROM generate_series(1, 100000) g"""
        )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return spin_dsn, tpcb_dsn


def pgbench(dsn: str, script: str | None, clients: int, duration_s: int) -> dict[str, float]:
    """One pgbench run: TPS, average latency, PostgreSQL CPU ms per transaction."""
    command = ["pgbench", "-n", "-c", str(clients), "-j", "2", "-T", str(duration_s)]
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        if script is not None:
            file.write(script)
            file.flush()
            command += ["-f", file.name]
        before = postgres_cpu_s()
        output = subprocess.run([*command, dsn], capture_output=True, text=True, check=True).stdout
        cpu = postgres_cpu_s() - before
    tps = float(re.search(r"tps = ([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"processed: (\d+)", output).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    return {"tps": tps, "latency_ms": latency, "pg_cpu_ms": 1000 * cpu / max(done, 1)}


def start_node(dsn: str, log: Path, batch: int) -> "subprocess.Popen[bytes]":
    """A sandbox node on the shipped config (spins batched up to `batch`) and `dsn`."""
    config = (REPO / "config.toml").read_text()
    config = config.replace("[postgres]\n", f"[postgres]\nspin_batch_max = {batch}\n", 1)
    path = log.with_name("config.toml")
    path.write_text(config)
    process = subprocess.Popen(
        [PYTHON, "-m", "roomserver", "--config", str(path), "run", "--sandbox"],
        cwd=REPO,
        env={**os.environ, "ROOMSERVER_POSTGRES_DSN": dsn},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the node exited; see {log}")
        try:
            with urllib.request.urlopen("http://127.0.0.1:8766/ready", timeout=1):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the node was not ready within 120 s")


def node_spins(
    dsn: str, rate: str, connections: int, duration_s: int, batch: int
) -> dict[str, float]:
    """Spins through a fresh node: spins/s, reply p50/p99, PostgreSQL and node CPU per spin."""
    with tempfile.TemporaryDirectory() as folder:
        node = start_node(dsn, Path(folder, "node.log"), batch)
        try:
            report = Path(folder, "report.json")
            command = [
                PYTHON, "-m", "loadtest", "spins", "--url", "ws://127.0.0.1:8765/ws",
                "--connections", str(connections), "--rate", rate,
                "--duration", str(duration_s), "--server-pid", str(node.pid),
                "--report", str(report), "--quiet",
            ]  # fmt: skip
            before = postgres_cpu_s()
            subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
            cpu = postgres_cpu_s() - before
            result = json.loads(report.read_text())
        finally:
            node.terminate()
            node.wait(30)
    done = max(int(result["samples"]), 1)  # a sample per spin answered with its result
    return {
        "tps": float(result["achieved_rate"]),
        "p50_ms": float(result["p50_ms"]),
        "p99_ms": float(result["p99_ms"]),
        "pg_cpu_ms": 1000 * cpu / done,
        "node_cpu_ms": 1000 / float(result["events_per_server_cpu_s"]),
        "errors": float(sum(result["errors"].values())),
    }


def summary(values: list[float]) -> str:
    """`median (min-max)`."""
    return f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g})"


def main() -> None:
    """Prepare, run every job RUNS times in turn, print a Markdown table and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", required=True, help="any database of the server (to create ours)")
    parser.add_argument("--database", default="roomserver_spin_ceiling", help="created afresh")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--only",
        action="append",
        choices=(
            "tpcb", "update", "spin", "node_max", "node_1000", "node_max_alone",
            "node_1000_alone",
        ),
    )  # fmt: skip
    args = parser.parse_args()
    spin_dsn, tpcb_dsn = asyncio.run(prepare(args.dsn, args.database))
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", tpcb_dsn], check=True, capture_output=True)
    node_dsn = f"{args.dsn.rpartition('/')[0]}/{NODE_DB}"
    jobs = {
        "tpcb": lambda: pgbench(tpcb_dsn, None, args.clients, args.duration),
        "update": lambda: pgbench(spin_dsn, UPDATE_SCRIPT, args.clients, args.duration),
        "spin": lambda: pgbench(spin_dsn, SPIN_SCRIPT, args.clients, args.duration),
        "node_max": lambda: node_spins(node_dsn, "5000", 200, args.duration, batch=64),
        "node_1000": lambda: node_spins(node_dsn, "1000", 100, args.duration, batch=64),
        "node_max_alone": lambda: node_spins(node_dsn, "5000", 200, args.duration, batch=1),
        "node_1000_alone": lambda: node_spins(node_dsn, "1000", 100, args.duration, batch=1),
    }
    wanted = args.only or list(jobs)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in wanted}
    if any(name.startswith("node") for name in wanted):
        # Not measured: the node database's first spins (empty tables, cold caches).
        node_spins(node_dsn, "1000", 100, 5, batch=64)
    for _ in range(args.runs):
        for name in wanted:
            results[name].append(jobs[name]())
    keys = ["tps", "latency_ms", "p50_ms", "p99_ms", "pg_cpu_ms", "node_cpu_ms"]
    print("| job | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, runs in results.items():
        cells = [summary([r[k] for r in runs]) if k in runs[0] else "" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
