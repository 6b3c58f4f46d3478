"""``QollabProvider``: the entry point, in the style of Qiskit's providers."""

from __future__ import annotations

from typing import Any

from qiskit.providers.exceptions import QiskitBackendNotFoundError

from .backend import QollabBackend
from .client import QollabClient, Workspace
from .job import QollabJob, SubmittedCircuit

__all__ = ["QollabProvider"]


class QollabProvider:
    """The backends of one Qollab server, as Qiskit ``BackendV2`` objects.

    ``token`` is an access token or a personal API token (``qlb_…``, created with
    ``POST /api/tokens`` or ``qollab login``). ``workspace`` (id or exact name) is where
    ``backend.run`` submits when it is not given ``workspace=``.

    >>> provider = QollabProvider("http://localhost:8080", "qlb_…", workspace="Bell states")
    >>> backend = provider.get_backend("emulator:qollab_falcon27")
    >>> counts = backend.run(transpile(qc, backend), shots=1000).result().get_counts()
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        workspace: str | Workspace | None = None,
        client: QollabClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.client = client or QollabClient(url, token, timeout=timeout)
        self.workspace: str | Workspace | None = workspace
        self._backends: dict[str, QollabBackend] | None = None

    @classmethod
    def login(
        cls, url: str, email: str, password: str, *, workspace: str | Workspace | None = None, **kwargs: Any
    ) -> "QollabProvider":
        """Logs in with e-mail and password (the access token is refreshed when it expires)."""
        client = QollabClient.login(url, email, password, **kwargs)
        return cls(url, client.token, workspace=workspace, client=client)

    def __repr__(self) -> str:
        return f"<QollabProvider {self.client.url}>"

    def _load(self, refresh: bool) -> dict[str, QollabBackend]:
        if self._backends is None or refresh:
            self._backends = {b.name: QollabBackend(self, b) for b in self.client.backends()}
        return self._backends

    def backends(
        self, name: str | None = None, *, available: bool | None = None, refresh: bool = False, **filters: Any
    ) -> list[QollabBackend]:
        """The server's backends (``GET /api/backends``), optionally filtered by name,
        availability, or attributes of their info (``kind="emulator"``)."""
        out = list(self._load(refresh).values())
        if name is not None:
            out = [b for b in out if b.name == name]
        if available is not None:
            out = [b for b in out if b.info.available == available]
        for key, value in filters.items():
            out = [b for b in out if getattr(b.info, key, None) == value]
        return out

    def get_backend(self, name: str = "ideal", *, refresh: bool = False) -> QollabBackend:
        """One backend by name: ``ideal``, ``emulator:<device>`` or ``ibm:<backend>``."""
        found = self.backends(name, refresh=refresh)
        if not found and not refresh:
            found = self.backends(name, refresh=True)
        if not found:
            names = ", ".join(sorted(self._load(False)))
            raise QiskitBackendNotFoundError(f"no backend named {name!r} on {self.client.url}; there are: {names}")
        return found[0]

    def retrieve_job(self, job_id: str) -> QollabJob:
        """A job from its id (or the ``,``-joined ids of a several-circuit job)."""
        circuits: list[SubmittedCircuit] = []
        backend: QollabBackend | None = None
        for jid in [j.strip() for j in job_id.split(",") if j.strip()]:
            info = self.client.job(jid)
            backend = backend or self.get_backend(info.backend)
            circuits.append(SubmittedCircuit(job_id=jid, name=f"job-{jid}", payload=None, info=info))
        if backend is None:
            raise ValueError("no job id given")
        return QollabJob(backend, circuits)

    # Shortcuts to the thin client.

    def workspaces(self) -> list[Workspace]:
        return self.client.workspaces()

    def create_workspace(self, name: str, **kwargs: Any) -> Workspace:
        return self.client.create_workspace(name, **kwargs)
