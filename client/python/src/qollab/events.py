"""The workspace event stream (``/ws/workspaces/{id}?token=…&since=…``) as an async
iterator that reconnects from the last event id it yielded."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from .errors import QollabError

__all__ = ["Event", "EventStream"]


#: Streamed AI text: pushed live, never stored nor replayed (the ``*.completed`` event
#: carries the whole text).
TRANSIENT_KINDS = frozenset({"ai.analysis.delta", "ai.message.delta"})


def is_transient(kind: str) -> bool:
    """Whether events of this kind are live only (the server's ``kinds::is_transient``)."""
    return kind.startswith("presence.") or kind in TRANSIENT_KINDS


@dataclass(frozen=True)
class Event:
    """One workspace event. ``id`` grows by one per event of the workspace."""

    id: int
    #: ``job.created``, ``job.started``, ``job.progress``, ``job.completed``,
    #: ``job.failed``, ``job.cancelled``, ``doc.created``, ``presence.joined``, …,
    #: and ``resync`` (the stream was too far behind: reload over REST).
    type: str
    workspace_id: str
    at: str
    actor: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Event":
        return cls(
            id=int(d["id"]),
            type=str(d["type"]),
            workspace_id=str(d.get("workspace_id", "")),
            at=str(d.get("at", "")),
            actor=d.get("actor"),
            data=dict(d.get("data") or {}),
        )

    @property
    def job_id(self) -> str | None:
        """The job a ``job.*`` event is about."""
        job = self.data.get("job")
        if isinstance(job, dict) and "id" in job:
            return str(job["id"])
        jid = self.data.get("job_id")
        return str(jid) if jid is not None else None


class EventStream:
    """``async for event in client.events(ws, since=…)``.

    Replays the events after ``since`` first (``None``: only new ones), then follows
    live. A dropped connection is reopened with ``since`` = the last id yielded, so
    nothing is missed or yielded twice; ``max_retries`` failed attempts in a row
    (exponential backoff) end the stream with :class:`QollabError`. A refused
    connection (bad token, no access) raises at once. A ``resync`` event is yielded and
    the stream continues from its ``data.latest``.
    """

    def __init__(
        self,
        url: str,
        token: str,
        workspace_id: str,
        *,
        since: int | None = None,
        max_retries: int = 8,
        initial_backoff: float = 0.25,
        max_backoff: float = 10.0,
    ) -> None:
        base = url.rstrip("/")
        if base.startswith("https://"):
            base = "wss://" + base[len("https://") :]
        elif base.startswith("http://"):
            base = "ws://" + base[len("http://") :]
        self._base = f"{base}/ws/workspaces/{workspace_id}"
        self._token = token
        self.last_id: int | None = since
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._conn: ClientConnection | None = None
        self._closed = False

    def _url(self) -> str:
        q: dict[str, Any] = {"token": self._token}
        if self.last_id is not None:
            q["since"] = self.last_id
        return f"{self._base}?{urlencode(q)}"

    async def _connect(self) -> ClientConnection:
        attempt = 0
        while True:
            try:
                return await connect(self._url(), max_size=2**20, open_timeout=10)
            except InvalidStatus as e:
                res = e.response
                try:
                    body: Any = json.loads(res.body or b"")
                except ValueError:
                    body = (res.body or b"").decode(errors="replace")
                raise QollabError.from_response(res.status_code, body) from e
            except (OSError, asyncio.TimeoutError, WebSocketException) as e:
                attempt += 1
                if attempt > self.max_retries:
                    raise QollabError(
                        f"event stream lost after {attempt - 1} reconnect attempt(s): {e}",
                        code="connection_error",
                    ) from e
                delay = min(self.initial_backoff * 2 ** (attempt - 1), self.max_backoff)
                await asyncio.sleep(delay)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        try:
            while not self._closed:
                self._conn = await self._connect()
                try:
                    async for message in self._conn:
                        if isinstance(message, bytes):
                            continue
                        event = Event.from_json(json.loads(message))
                        if event.type == "resync":
                            self.last_id = int(event.data.get("latest", event.id))
                            yield event
                            continue
                        if is_transient(event.type):
                            # Not in the log (presence, streamed AI text): its id is the
                            # stream's position, which it does not move.
                            yield event
                            continue
                        if self.last_id is not None and event.id <= self.last_id:
                            continue  # already yielded before a reconnect
                        self.last_id = event.id
                        yield event
                except ConnectionClosed:
                    pass
                # Reconnect with since = the last id yielded. (A stream opened without
                # `since` learns its position at once: the server announces this very
                # connection as a presence.joined event.)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Closes the connection; the iteration ends."""
        self._closed = True
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
