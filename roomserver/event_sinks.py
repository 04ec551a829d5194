"""Event sinks: a JSON Lines file, and an SQS FIFO queue."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import aioboto3
from aiobotocore.config import AioConfig

from roomserver.events import Event, encode_event

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

DEFAULT_REGION: Final = "us-east-1"
SQS_BATCH_SIZE: Final = 10  # the most SendMessageBatch takes

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
        """Sends the events in batches of ten, in order.

        Returns:
            The events SQS refused, as event_id -> "code: message".

        Raises:
            botocore.exceptions.BotoCoreError: If SQS cannot be reached.
            botocore.exceptions.ClientError: If SQS refuses a whole batch.
        """
        failed: dict[str, str] = {}
        for start in range(0, len(events), SQS_BATCH_SIZE):
            chunk = events[start : start + SQS_BATCH_SIZE]
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(index),
                    "MessageBody": encode_event(event).decode(),
                    "MessageGroupId": event.group_id,
                    "MessageDeduplicationId": event.event_id,
                }
                for index, event in enumerate(chunk)
            ]
            response = await self._client.send_message_batch(
                QueueUrl=self._queue_url, Entries=entries
            )
            for entry in response.get("Failed", []):
                event = chunk[int(entry["Id"])]
                failed[event.event_id] = f"{entry['Code']}: {entry.get('Message', '')}"
        return failed

    async def close(self) -> None:
        """Closes the client."""
        await self._stack.aclose()


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
