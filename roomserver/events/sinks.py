"""Event sinks: a JSON Lines file, and an SQS FIFO queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aioboto3
import msgspec
from aiobotocore.config import AioConfig

from roomserver.domain.event_envelope import Event, encode_event

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

DEFAULT_REGION: Final = "us-east-1"
SQS_BATCH_SIZE: Final = 10  # the most SendMessageBatch takes
# SQS's limit on one message, and on all the messages of one SendMessageBatch together.
SQS_MAX_BYTES: Final = 262_144

log = logging.getLogger(__name__)

_SQS_HOST: Final = re.compile(r"sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?", re.IGNORECASE)
# Any of these means the default credential chain has something to find.
_CREDENTIAL_ENV: Final = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
# One attempt with short timeouts: the relay retries with its own backoff.
_SQS_CONFIG: Final = AioConfig(
    connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1, "mode": "standard"}
)


class JsonLinesSink:
    """Appends each event as one JSON line to a file, on disk before `publish` returns."""

    def __init__(self, path: Path) -> None:
        """Prepares the sink; the file and its parent directories are created on first use.

        Args:
            path: The file to append to.
        """
        self._path = path
        self._fd: int | None = None
        self._closed = False
        # Serialises writers, including a thread still writing after its caller was cancelled.
        self._lock = threading.Lock()

    async def publish(self, events: Sequence[Event]) -> dict[str, str]:
        """Appends the events, then flushes them to disk.

        Returns:
            An empty dict: the batch is written whole or not at all.

        Raises:
            OSError: If the file cannot be opened, written or synced.
        """
        if not events:
            return {}
        data = b"".join(encode_event(event) + b"\n" for event in events)
        await asyncio.to_thread(self._append, data)
        return {}

    async def close(self) -> None:
        """Closes the file; later publishes raise."""
        await asyncio.to_thread(self._close)

    def _append(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                raise OSError(f"event file {self._path} is closed")
            fd = self._fd if self._fd is not None else self._open()
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                # Drop a torn batch so the next one starts on a line of its own.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise

    def _open(self) -> int:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        created = not self._path.exists()
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if created:
            # A new file survives a crash only once its directory entry is synced too.
            directory = os.open(self._path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self._fd = fd
        return fd

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)


class SqsSink:
    """Sends events to an SQS FIFO queue; build it with `open_sqs_sink`."""

    def __init__(self, client: SQSClient, queue_url: str, stack: contextlib.AsyncExitStack) -> None:
        """Wraps an open client.

        Args:
            client: The SQS client.
            queue_url: The queue to send to.
            stack: Closes the client; `close` exits it.
        """
        self._client = client
        self._queue_url = queue_url
        self._stack = stack

    async def publish(self, events: Sequence[Event]) -> dict[str, str]:
        """Sends the events in order, in batches within SQS's limits (see `sqs_batches`).

        An event too large for one message is sent with its longest lists cut (see
        `sqs_body`).

        Returns:
            The events SQS refused, as event_id -> "code: message".

        Raises:
            botocore.exceptions.BotoCoreError: If SQS cannot be reached.
            botocore.exceptions.ClientError: If SQS refuses a whole batch.
        """
        failed: dict[str, str] = {}
        bodies = []
        for event in events:
            body = sqs_body(event)
            if body is None:
                failed[event.event_id] = f"MessageTooLong: over {SQS_MAX_BYTES} bytes even cut"
            else:
                bodies.append((event, body))
        for chunk in sqs_batches(bodies):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(index),
                    "MessageBody": body.decode(),
                    "MessageGroupId": event.group_id,
                    "MessageDeduplicationId": event.event_id,
                }
                for index, (event, body) in enumerate(chunk)
            ]
            response = await self._client.send_message_batch(
                QueueUrl=self._queue_url, Entries=entries
            )
            for entry in response.get("Failed", []):
                event = chunk[int(entry["Id"])][0]
                failed[event.event_id] = f"{entry['Code']}: {entry.get('Message', '')}"
        return failed

    async def close(self) -> None:
        """Closes the client."""
        await self._stack.aclose()


def sqs_batches(
    bodies: Sequence[tuple[Event, bytes]], max_bytes: int = SQS_MAX_BYTES
) -> Iterator[list[tuple[Event, bytes]]]:
    """Consecutive runs of (event, body) for SendMessageBatch, in order.

    At most ten each, and bodies adding up to at most `max_bytes` (so a message of more than
    half of it goes alone).

    A body larger than `max_bytes` on its own still gets a batch of its own (SQS refuses it,
    and says so for that event only); `sqs_body` keeps that from happening.
    """
    batch: list[tuple[Event, bytes]] = []
    size = 0
    for event, body in bodies:
        if batch and (len(batch) == SQS_BATCH_SIZE or size + len(body) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append((event, body))
        size += len(body)
    if batch:
        yield batch


def sqs_body(event: Event, max_bytes: int = SQS_MAX_BYTES) -> bytes | None:
    """The event as one SQS message body of at most `max_bytes`, or None if it cannot fit.

    An event that fits is sent whole. A larger one (the completion of a tournament of thousands
    of players lists them all) is cut rather than held back: its consumers still learn that the
    tournament ended, with the prizes, the seed and the top of the standings; the payload's
    longest lists are shortened from the end (standings are in rank order) and the payload says
    so in `truncated`, e.g. {"standings": {"kept": 1800, "total": 10000}}. The whole record
    stays available from the side API (the tournament's closing and leaderboard). A payload with
    no list to shorten is replaced by {"truncated": {"payload_bytes": n}}.
    """
    body = encode_event(event)
    if len(body) <= max_bytes:
        return body
    original = len(body)
    payload = msgspec.json.decode(event.payload)
    cut: dict[str, Any] = {}
    if isinstance(payload, dict):
        lists = sorted(
            (key for key, value in payload.items() if isinstance(value, list) and value),
            key=lambda key: len(msgspec.json.encode(payload[key])),
            reverse=True,
        )
        for key in lists:
            items = [msgspec.json.encode(item) for item in payload[key]]
            total = len(items)
            cut[key] = {"kept": total, "total": total}  # widest digits: the real one is shorter
            payload[key] = []
            room = max_bytes - len(_encode_with(event, payload, cut))
            kept, used = 0, 0
            for item in items:
                used += len(item) + (1 if kept else 0)  # the comma before every item but the first
                if used > room:
                    break
                kept += 1
            cut[key] = {"kept": kept, "total": total}
            payload[key] = [msgspec.Raw(item) for item in items[:kept]]
            body = _encode_with(event, payload, cut)
            if len(body) <= max_bytes:
                break
    if len(body) > max_bytes:
        cut = {"payload_bytes": len(event.payload)}
        body = _encode_with(event, {}, cut)
    if len(body) > max_bytes:
        log.error(
            "event %s (%s) is %d bytes, over SQS's %d even without its payload: not sent",
            event.event_id,
            event.event_type,
            original,
            max_bytes,
        )
        return None
    log.warning(
        "event %s (%s) is %d bytes, over SQS's %d: sent cut to %d bytes, truncated %s",
        event.event_id,
        event.event_type,
        original,
        max_bytes,
        len(body),
        msgspec.json.encode(cut).decode(),
    )
    return body


def _encode_with(event: Event, payload: dict[str, Any], cut: dict[str, Any]) -> bytes:
    raw = msgspec.Raw(msgspec.json.encode({**payload, "truncated": cut}))
    return encode_event(msgspec.structs.replace(event, payload=raw))


async def open_sqs_sink(queue_url: str, endpoint_url: str | None) -> SqsSink:
    """Opens a client for the queue.

    Args:
        queue_url: The FIFO queue's URL.
        endpoint_url: Another SQS endpoint than AWS's, such as a local one.

    Returns:
        The sink, which the caller closes.
    """
    stack = contextlib.AsyncExitStack()
    client = await stack.enter_async_context(sqs_client(region_of(queue_url), endpoint_url))
    return SqsSink(client, queue_url, stack)


def sqs_client(region: str, endpoint_url: str | None) -> ClientCreatorContext[SQSClient]:
    """An SQS client that fails fast, to enter as an async context manager.

    Args:
        region: The AWS region.
        endpoint_url: Another SQS endpoint than AWS's. Without credentials in the
            environment, it gets dummy ones: local endpoints accept any.
    """
    key: str | None = None
    if endpoint_url is not None and not any(os.environ.get(name) for name in _CREDENTIAL_ENV):
        key = "local"
    return aioboto3.Session().client(
        "sqs",
        region_name=region,
        endpoint_url=endpoint_url,
        config=_SQS_CONFIG,
        aws_access_key_id=key,
        aws_secret_access_key=key,
    )


def region_of(url: str) -> str:
    """The AWS region of an SQS URL's host, else the environment's, else us-east-1."""
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    match = _SQS_HOST.fullmatch(host)
    if match is not None:
        return match.group(1).lower()
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
