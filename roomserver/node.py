"""The composition root: one node's database, rooms and hub, started and stopped in order."""

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from api.server import start_side_api
from roomserver.cluster.nodes import NodeLoad
from roomserver.cluster.open import open_cluster
from roomserver.config import Config, EventsConfig
from roomserver.demo.server import demo_listeners, node_ws_url
from roomserver.demo.site import DemoSite
from roomserver.domain.event_envelope import EventSink
from roomserver.events.relay import OutboxRelay
from roomserver.events.retention import OutboxRetention
from roomserver.events.sinks import JsonLinesSink, open_sqs_sink
from roomserver.gateway.hub import Hub
from roomserver.gateway.tokens import TokenVerifier
from roomserver.ops.embedded_postgres import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    setup_log_path,
    start_embedded_postgres,
)
from roomserver.ops.metrics import NodeMetrics
from roomserver.ops.startup import StartupError, database_error, listen_error, wait_for_database
from roomserver.ops.version import package_version
from roomserver.rooms.registry import RoomDirectory
from roomserver.services.presence_events import PresenceEvents
from roomserver.services.registration import Registrations
from roomserver.services.sandbox import seed_sandbox
from roomserver.services.scheduler import TournamentScheduler
from roomserver.services.spins import SpinService
from roomserver.store.ledger import Ledger
from roomserver.store.migrate import migrate
from roomserver.store.pool import create_pool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Node:
    """A running node."""

    config: Config
    ledger: Ledger
    rooms: RoomDirectory
    hub: Hub
    api_port: int | None  # the side API's port, None when it is off
    demo: DemoSite | None = None  # what the demo casino serves, None when it is off


@contextlib.asynccontextmanager
async def running_node(config: Config) -> AsyncIterator[Node]:
    """Start a node; leaving the block drains it (in-flight spins commit) and stops everything.

    Raises:
        StartupError: a listener cannot bind or the database cannot be reached (possibly inside
            an ExceptionGroup).
    """
    embedded: EmbeddedPostgres | None = None
    dsn = config.postgres.dsn
    if dsn:
        await wait_for_database(
            dsn,
            connect_timeout_s=config.postgres.connect_timeout_s,
            retry_s=config.postgres.startup_retry_s,
        )
    else:
        data_dir = Path(config.postgres.embedded_data_dir)
        try:
            embedded = await asyncio.to_thread(start_embedded_postgres, data_dir)
        except EmbeddedPostgresError as exc:
            raise StartupError(
                f"{str(exc).splitlines()[0]} (config key postgres.embedded_data_dir; details in "
                f"{setup_log_path(data_dir)} and {data_dir / 'log'})"
            ) from None
        dsn = embedded.dsn
    try:
        try:
            pool = await create_pool(
                dsn,
                min_size=config.postgres.pool_min_size,
                max_size=config.postgres.pool_max_size,
                timeout_s=config.postgres.command_timeout_s,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise database_error(exc, dsn) from None
        try:
            async with pool.acquire() as connection:
                run = await migrate(connection)
            if run.versions:
                log.info("applied schema migrations %s", run.versions)
            if run.functions:
                log.info("defined database functions %s", ", ".join(run.functions))
            ledger = Ledger(pool)
            ledger.batch_spins(
                max_batch=config.postgres.spin_batch_max,
                max_in_flight=config.postgres.spin_batch_in_flight,
            )
            if config.sandbox.enabled:
                await seed_sandbox(ledger)
                log.warning("sandbox mode: demo tournament and test players are seeded")
            config = with_node_id(config)
            async with (
                demo_listeners(config) as demo,
                open_cluster(config.redis, config.rooms, config.server.node_id) as cluster,
                asyncio.TaskGroup() as tasks,
            ):
                if demo is not None:
                    # The demo's game page opens its socket from its own origin.
                    config = with_allowed_origin(config, demo.game_origin)

                def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
                    tasks.create_task(coroutine)

                rooms = RoomDirectory(
                    ledger,
                    cluster.broker,
                    cluster.presence,
                    cluster.tickers,
                    config.rooms,
                    tasks.create_task,
                )
                cluster.on_ticker_granted(rooms.ticker_granted)
                metrics = NodeMetrics()
                tokens = TokenVerifier(config.auth)
                registrations = Registrations(ledger, rooms)
                hub = Hub(
                    config,
                    tokens,
                    ledger,
                    rooms,
                    SpinService(ledger),
                    registrations,
                    PresenceEvents(ledger),
                    spawn,
                    metrics,
                )
                metrics.attach(hub, rooms)
                scheduler = TournamentScheduler(
                    ledger, rooms, tick_s=config.lifecycle.tick_s, shared_rooms=cluster.shared
                )
                try:
                    await hub.start()
                except OSError as exc:
                    raise listen_error(
                        exc, "server", config.server.host, config.server.port
                    ) from None
                cluster.on_went_offline(rooms.went_offline)
                version = package_version()
                cluster.report_load(
                    lambda: NodeLoad(
                        config.server.node_id,
                        config.server.public_url,
                        version,
                        len(hub.sessions),
                        len(rooms),
                    )
                )
                background = [
                    tasks.create_task(hub.watch_sessions()),
                    tasks.create_task(scheduler.run()),
                ]
                sink = await open_event_sink(config.events) if config.events.relay else None
                if sink is not None:
                    relay = OutboxRelay(ledger, sink, config.events)
                    background.append(tasks.create_task(relay.run()))
                    retention = OutboxRetention(ledger, config.events, metrics)
                    background.append(tasks.create_task(retention.run()))
                api_server = None
                demo_site = None
                try:
                    if config.api.enabled:
                        api_server = start_side_api(
                            config,
                            ledger,
                            hub,
                            rooms,
                            tokens,
                            metrics,
                            scheduler,
                            registrations,
                            cluster.nodes,
                        )
                        tasks.create_task(api_server.run())
                    if demo is not None:
                        demo_site = DemoSite(
                            casino_origin=demo.casino_origin,
                            game_origin=demo.game_origin,
                            ws_url=node_ws_url(config, hub.port),
                            auth=config.auth,
                            sandbox=config.sandbox.enabled,
                        )
                        tasks.create_task(demo.run(demo_site))
                    yield Node(
                        config,
                        ledger,
                        rooms,
                        hub,
                        None if api_server is None else api_server.port,
                        demo_site,
                    )
                finally:
                    if api_server is not None:
                        api_server.stop()
                    if demo is not None:
                        demo.stop()
                    await hub.drain()
                    for task in background:
                        task.cancel()
                    # The relay stops before its sink closes (never mid-publish).
                    await asyncio.gather(*background, return_exceptions=True)
                    rooms.stop()
                    if sink is not None:
                        await sink.close()
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def with_node_id(config: Config) -> Config:
    """The config with `server.node_id` filled in: the configured name, else host name and port.

    A node listening on port 0 (chosen by the system) is named by host name, process id and a
    random suffix, since its port is not known before it binds.
    """
    if config.server.node_id:
        return config
    port = config.server.port or f"pid{os.getpid()}-{secrets.token_hex(3)}"
    server = msgspec.structs.replace(config.server, node_id=f"{socket.gethostname()}:{port}")
    return msgspec.structs.replace(config, server=server)


def with_allowed_origin(config: Config, origin: str) -> Config:
    """The config with `origin` among `server.allowed_origins` (once)."""
    if origin in config.server.allowed_origins:
        return config
    server = msgspec.structs.replace(
        config.server, allowed_origins=(*config.server.allowed_origins, origin)
    )
    return msgspec.structs.replace(config, server=server)


async def open_event_sink(config: EventsConfig) -> EventSink:
    """The SQS queue when one is configured, else the JSON-lines file."""
    if config.sqs_queue_url:
        log.info("events go to SQS queue %s", config.sqs_queue_url)
        return await open_sqs_sink(config.sqs_queue_url, config.sqs_endpoint_url or None)
    log.info("events go to %s", config.file)
    return JsonLinesSink(Path(config.file))
