"""A thin, typed client for the Qollab REST API (``GET /api/openapi.json`` describes it)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Literal, Mapping

import httpx

from .errors import QollabError

if TYPE_CHECKING:
    from qiskit.circuit import QuantumCircuit

    from .events import EventStream

__all__ = [
    "QollabClient",
    "Workspace",
    "Document",
    "DocumentDetail",
    "JobInfo",
    "BackendInfo",
    "FINISHED",
]

#: Job states after which nothing changes any more.
FINISHED = frozenset({"completed", "failed", "cancelled"})

Dialect = Literal["qasm2", "qasm3"]


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    org_id: str
    description: str
    #: The caller's role: ``owner``, ``editor`` or ``viewer``.
    role: str
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Workspace":
        return cls(
            id=str(d["id"]),
            name=str(d.get("name", "")),
            org_id=str(d.get("org_id", "")),
            description=str(d.get("description", "")),
            role=str(d.get("role", "")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class Document:
    id: str
    workspace_id: str
    name: str
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Document":
        return cls(
            id=str(d["id"]),
            workspace_id=str(d.get("workspace_id", "")),
            name=str(d.get("name", "")),
            raw=dict(d),
        )


@dataclass(frozen=True)
class DocumentDetail(Document):
    #: Live statistics of the current content (qubits, gates, depth, …).
    stats: dict[str, Any] = field(default_factory=dict)
    #: What is wrong with the current content, if anything.
    problems: list[dict[str, Any]] = field(default_factory=list)
    connected_peers: int = 0

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "DocumentDetail":
        return cls(
            id=str(d["id"]),
            workspace_id=str(d.get("workspace_id", "")),
            name=str(d.get("name", "")),
            raw=dict(d),
            stats=dict(d.get("stats") or {}),
            problems=list(d.get("problems") or []),
            connected_peers=int(d.get("connected_peers") or 0),
        )


@dataclass(frozen=True)
class JobInfo:
    """A job as the server reports it (``GET /api/jobs/{id}``)."""

    id: str
    workspace_id: str
    #: ``queued``, ``running``, ``completed``, ``failed`` or ``cancelled``.
    status: str
    backend: str
    kind: str
    shots: int
    progress: float
    queue_position: int | None
    error: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "JobInfo":
        qp = d.get("queue_position")
        return cls(
            id=str(d["id"]),
            workspace_id=str(d.get("workspace_id", "")),
            status=str(d.get("status", "")),
            backend=str(d.get("backend", "")),
            kind=str(d.get("kind", "")),
            shots=int(d.get("shots") or 0),
            progress=float(d.get("progress") or 0.0),
            queue_position=int(qp) if qp is not None else None,
            error=d.get("error"),
            raw=dict(d),
        )


@dataclass(frozen=True)
class BackendInfo:
    """One entry of ``GET /api/backends``."""

    name: str
    #: ``simulator``, ``emulator`` or ``remote``.
    kind: str
    available: bool
    reason: str | None
    num_qubits: int
    basis_gates: list[str]
    coupling_map: list[tuple[int, int]]
    queue_length: int
    #: Per-qubit and per-gate calibration, when the server sends it (``calibration``).
    calibration: dict[str, Any] | None = None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "BackendInfo":
        cal = d.get("calibration")
        return cls(
            name=str(d["name"]),
            kind=str(d.get("kind", "")),
            available=bool(d.get("available", True)),
            reason=d.get("reason"),
            num_qubits=int(d.get("num_qubits") or 0),
            basis_gates=[str(g) for g in d.get("basis_gates") or []],
            coupling_map=[(int(a), int(b)) for a, b in d.get("coupling_map") or []],
            queue_length=int(d.get("queue_length") or 0),
            calibration=dict(cal) if isinstance(cal, dict) else None,
            raw=dict(d),
        )


class QollabClient:
    """REST client of one Qollab server, authenticated as one user.

    ``token`` is an access token or a personal API token (``qlb_…``). With a
    ``refresh_token`` (what :meth:`login` keeps), an expired access token is renewed
    once on a 401 and the request retried. Thread-safe for concurrent requests.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        refresh_token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._refresh_token = refresh_token
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            headers={"user-agent": "qollab-python/0.1"},
        )

    # -- plumbing -------------------------------------------------------------------

    @property
    def token(self) -> str:
        """The current bearer token (it changes when an access token is refreshed)."""
        return self._token

    @classmethod
    def login(cls, url: str, email: str, password: str, **kwargs: Any) -> "QollabClient":
        """Logs in with e-mail and password; the session's access token is refreshed
        automatically when it expires."""
        url = url.rstrip("/")
        with httpx.Client(base_url=url, timeout=kwargs.get("timeout", 30.0)) as http:
            body = _send(http, "POST", "/api/auth/login", json={"email": email, "password": password})
        return cls(url, body["access_token"], refresh_token=body["refresh_token"], **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "QollabClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """Sends one request; returns the decoded JSON body (the text when ``raw``).
        Errors become :class:`QollabError`."""
        token = self._token
        hdrs = {"authorization": f"Bearer {token}", **(headers or {})}
        try:
            return _send(self._http, method, path, json=json, params=params, content=content, headers=hdrs, raw=raw)
        except QollabError as e:
            if e.status != 401 or not self._refresh_token:
                raise
        self._refresh(token)
        hdrs["authorization"] = f"Bearer {self._token}"
        return _send(self._http, method, path, json=json, params=params, content=content, headers=hdrs, raw=raw)

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 200) -> Iterator[Any]:
        """Every item of a paged list (``{items, next_cursor}``), fetching page by page
        as the iteration goes."""
        cursor: str | None = None
        while True:
            query = {**(params or {}), "limit": limit}
            if cursor:
                query["cursor"] = cursor
            page = self.request("GET", path, params=query)
            yield from page["items"]
            nxt = page.get("next_cursor")
            # An empty page or a cursor that does not move would loop forever.
            if not nxt or nxt == cursor or not page["items"]:
                return
            cursor = nxt

    def _refresh(self, stale: str) -> None:
        with self._lock:
            if self._token != stale:  # another thread already refreshed it
                return
            body = _send(self._http, "POST", "/api/auth/refresh", json={"refresh_token": self._refresh_token})
            self._token = body["access_token"]
            self._refresh_token = body["refresh_token"]

    # -- identity -------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """``GET /api/me``: the user and their organizations."""
        return dict(self.request("GET", "/api/me"))

    # -- workspaces -----------------------------------------------------------------

    def workspaces(self) -> list[Workspace]:
        return [Workspace.from_json(w) for w in self.request("GET", "/api/workspaces")]

    def create_workspace(
        self, name: str, *, description: str | None = None, org_id: str | None = None
    ) -> Workspace:
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if org_id is not None:
            body["org_id"] = org_id
        return Workspace.from_json(self.request("POST", "/api/workspaces", json=body))

    def workspace(self, ref: str | Workspace) -> Workspace:
        """A workspace by id, or by its exact name among the caller's workspaces."""
        if isinstance(ref, Workspace):
            return ref
        if _looks_like_uuid(ref):
            return Workspace.from_json(self.request("GET", f"/api/workspaces/{ref}"))
        matches = [w for w in self.workspaces() if w.name == ref]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise QollabError(f"no workspace named {ref!r}", code="not_found", status=404)
        raise QollabError(
            f"{len(matches)} workspaces are named {ref!r}; pass the id", code="ambiguous"
        )

    def workspace_id(self, ref: str | Workspace) -> str:
        if isinstance(ref, Workspace):
            return ref.id
        return ref if _looks_like_uuid(ref) else self.workspace(ref).id

    # -- documents ------------------------------------------------------------------

    def documents(self, workspace: str | Workspace) -> list[Document]:
        ws = self.workspace_id(workspace)
        return [Document.from_json(d) for d in self.pages(f"/api/workspaces/{ws}/docs")]

    def create_document(
        self, workspace: str | Workspace, name: str, circuit: "QuantumCircuit | str | None" = None
    ) -> Document:
        """A new circuit document, seeded from a ``QuantumCircuit`` or OpenQASM text."""
        ws = self.workspace_id(workspace)
        body: dict[str, Any] = {"name": name}
        if circuit is not None:
            body["qasm"] = circuit if isinstance(circuit, str) else _to_qasm(circuit)
        return Document.from_json(self.request("POST", f"/api/workspaces/{ws}/docs", json=body))

    def document(self, doc_id: str) -> DocumentDetail:
        return DocumentDetail.from_json(self.request("GET", f"/api/docs/{doc_id}"))

    def document_qasm(self, doc_id: str, dialect: Dialect = "qasm2") -> str:
        """The document's current circuit as OpenQASM (``GET /api/docs/{id}/qasm``)."""
        return str(self.request("GET", f"/api/docs/{doc_id}/qasm", params={"dialect": dialect}, raw=True))

    def read_circuit(self, doc_id: str) -> "QuantumCircuit":
        """The shared document's current circuit as a ``QuantumCircuit``."""
        from .qasm import from_qasm

        return from_qasm(self.document_qasm(doc_id, "qasm2"))

    def write_circuit(self, doc_id: str, circuit: "QuantumCircuit | str") -> DocumentDetail:
        """Replaces the document's circuit (one live edit every connected peer sees)."""
        text = circuit if isinstance(circuit, str) else _to_qasm(circuit)
        body = self.request(
            "PUT", f"/api/docs/{doc_id}/qasm", content=text.encode(), headers={"content-type": "text/plain"}
        )
        return DocumentDetail.from_json(body)

    # -- jobs -----------------------------------------------------------------------

    def submit_job(
        self,
        workspace: str | Workspace,
        *,
        qasm: str | None = None,
        doc_id: str | None = None,
        backend: str = "ideal",
        shots: int = 1024,
        seed: int | None = None,
        kind: str = "simulate",
        optimization_level: int = 1,
        session_id: str | None = None,
    ) -> JobInfo:
        """``POST /api/workspaces/{id}/jobs`` with OpenQASM text or a document."""
        if (qasm is None) == (doc_id is None):
            raise ValueError("pass exactly one of qasm= or doc_id=")
        ws = self.workspace_id(workspace)
        body: dict[str, Any] = {
            "source": {"qasm": qasm} if qasm is not None else {"doc_id": doc_id},
            "backend": backend,
            "shots": shots,
            "kind": kind,
            "optimization_level": optimization_level,
        }
        if seed is not None:
            body["seed"] = seed
        if session_id is not None:
            body["session_id"] = session_id
        return JobInfo.from_json(self.request("POST", f"/api/workspaces/{ws}/jobs", json=body))

    def job(self, job_id: str) -> JobInfo:
        return JobInfo.from_json(self.request("GET", f"/api/jobs/{job_id}"))

    def jobs(self, workspace: str | Workspace, *, status: str | None = None, limit: int = 50) -> list[JobInfo]:
        """The workspace's newest jobs (one page)."""
        ws = self.workspace_id(workspace)
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        page = self.request("GET", f"/api/workspaces/{ws}/jobs", params=params)
        return [JobInfo.from_json(j) for j in page["items"]]

    def cancel_job(self, job_id: str) -> JobInfo:
        """Cancels a queued job at once; a running one stops within about a second."""
        return JobInfo.from_json(self.request("POST", f"/api/jobs/{job_id}/cancel"))

    def job_result(self, job_id: str) -> dict[str, Any]:
        """The result document of a completed job (counts, probabilities, …)."""
        return dict(self.request("GET", f"/api/jobs/{job_id}/result"))

    def wait_for_job(self, job_id: str, *, timeout: float | None = None, poll: float = 0.2) -> JobInfo:
        """Polls until the job is finished (backing off to 2 s between polls)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = poll
        while True:
            info = self.job(job_id)
            if info.finished:
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {info.status} after {timeout} s")
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 2.0)

    # -- backends -------------------------------------------------------------------

    def backends(self) -> list[BackendInfo]:
        return [BackendInfo.from_json(b) for b in self.request("GET", "/api/backends")]

    # -- events ---------------------------------------------------------------------

    def events(self, workspace: str | Workspace, *, since: int | None = None, **kwargs: Any) -> "EventStream":
        """The workspace's live event stream, an async iterator of :class:`Event`."""
        from .events import EventStream

        return EventStream(self.url, self.token, self.workspace_id(workspace), since=since, **kwargs)


def _looks_like_uuid(s: str) -> bool:
    import uuid

    try:
        uuid.UUID(s)
    except ValueError:
        return False
    return True


def _to_qasm(circuit: "QuantumCircuit") -> str:
    from .qasm import to_qasm

    return to_qasm(circuit).text


def _send(
    http: httpx.Client,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    content: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    raw: bool = False,
) -> Any:
    try:
        res = http.request(method, path, json=json, params=params, content=content, headers=headers)
    except httpx.HTTPError as e:
        raise QollabError(f"{method} {path}: {e}", code="connection_error") from e
    if res.is_success:
        if raw:
            return res.text
        return res.json() if res.content else None
    try:
        body: Any = res.json()
    except ValueError:
        body = res.text
    raise QollabError.from_response(res.status_code, body, fallback=f"{method} {path}: HTTP {res.status_code}")

