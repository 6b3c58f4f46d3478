"""A Qiskit job over one or more Qollab server jobs (one per circuit)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobStatus, JobV1
from qiskit.result import Result

from .client import JobInfo
from .errors import QollabError, QollabJobError
from .qasm import QasmPayload

if TYPE_CHECKING:
    from .backend import QollabBackend

__all__ = ["QollabJob", "SubmittedCircuit", "job_status", "counts_to_hex"]

_STATUS = {
    "queued": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    "completed": JobStatus.DONE,
    "failed": JobStatus.ERROR,
    "cancelled": JobStatus.CANCELLED,
}


def job_status(server_status: str) -> JobStatus:
    """The Qiskit ``JobStatus`` of a server job state."""
    try:
        return _STATUS[server_status]
    except KeyError:
        raise QollabError(f"unknown job status {server_status!r}", code="protocol_error") from None


def counts_to_hex(counts: dict[str, int]) -> dict[str, int]:
    """Server counts (Qiskit's order: registers last-first, separated by spaces, bit 0
    rightmost) as the hexadecimal memory keys of a Qiskit ``Result``."""
    out: dict[str, int] = {}
    for key, n in counts.items():
        bits = key.replace(" ", "")
        h = hex(int(bits, 2)) if bits else "0x0"
        out[h] = out.get(h, 0) + int(n)
    return out


@dataclass
class SubmittedCircuit:
    job_id: str
    name: str
    #: What was sent; None for a job retrieved by id (register sizes then come from
    #: the counts' keys).
    payload: QasmPayload | None
    info: JobInfo


class QollabJob(JobV1):
    """What ``QollabBackend.run`` returns.

    One server job per circuit; ``job_id()`` is the server job's id (several are
    joined with ``,``, and ``QollabProvider.retrieve_job`` takes either). ``status()``
    maps the server's states (queued → QUEUED, running → RUNNING, completed → DONE,
    failed → ERROR, cancelled → CANCELLED); with several jobs it is the least advanced
    one's, ERROR or CANCELLED as soon as any job ended so.
    """

    def __init__(self, backend: "QollabBackend", circuits: list[SubmittedCircuit]) -> None:
        super().__init__(backend, ",".join(c.job_id for c in circuits))
        self._backend_ref = backend
        self._circuits = circuits
        self._infos: dict[str, JobInfo] = {c.job_id: c.info for c in circuits}
        self._result: Result | None = None

    @property
    def job_ids(self) -> list[str]:
        """The server job ids, in circuit order."""
        return [c.job_id for c in self._circuits]

    def submit(self) -> None:
        raise QollabError("a QollabJob is submitted by QollabBackend.run()", code="already_submitted")

    def jobs(self, refresh: bool = True) -> list[JobInfo]:
        """The server jobs as last seen (fetched again unless finished, with ``refresh``)."""
        client = self._backend_ref.provider.client
        if refresh:
            for jid, info in list(self._infos.items()):
                if not info.finished:
                    self._infos[jid] = client.job(jid)
        return [self._infos[c.job_id] for c in self._circuits]

    def status(self) -> JobStatus:
        states = [job_status(i.status) for i in self.jobs()]
        for s in (JobStatus.ERROR, JobStatus.CANCELLED, JobStatus.QUEUED, JobStatus.RUNNING):
            if s in states:
                return s
        return JobStatus.DONE

    def cancel(self) -> bool:
        """Cancels every unfinished job; True when all of them are (or will be, within
        about a second for running ones) cancelled."""
        client = self._backend_ref.provider.client
        ok = True
        for c in self._circuits:
            if self._infos[c.job_id].finished:
                ok = ok and self._infos[c.job_id].status == "cancelled"
                continue
            try:
                self._infos[c.job_id] = client.cancel_job(c.job_id)
            except QollabError as e:
                if e.code != "already_finished":
                    raise
                self._infos[c.job_id] = client.job(c.job_id)
                ok = ok and self._infos[c.job_id].status == "cancelled"
        return ok

    def wait_for_final_state(
        self, timeout: float | None = None, wait: float = 0.2, callback: Any = None
    ) -> None:
        """Waits until every job is finished (polling, backing off to 2 s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = wait
        while True:
            status = self.status()
            if all(i.finished for i in self._infos.values()):
                return
            if deadline is not None and time.monotonic() >= deadline:
                from qiskit.providers.exceptions import JobTimeoutError

                raise JobTimeoutError(f"job {self.job_id()} is not finished after {timeout} s")
            if callback is not None:
                callback(self.job_id(), status, self)
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def result(self, timeout: float | None = None, *, partial: bool = False) -> Result:
        """Waits for the jobs and returns their ``Result`` (one experiment per circuit,
        in order). A failed or cancelled job raises :class:`QollabJobError` with the
        server's reason, unless ``partial``: then its experiment has ``success=False``."""
        if self._result is not None:
            return self._result
        self.wait_for_final_state(timeout=timeout)
        client = self._backend_ref.provider.client
        experiments: list[dict[str, Any]] = []
        for c in self._circuits:
            info = self._infos[c.job_id]
            header: dict[str, Any] = {"name": c.name}
            if c.payload is not None:
                header["creg_sizes"] = [[n, s] for n, s in c.payload.creg_sizes]
                header["memory_slots"] = c.payload.memory_slots
            if info.status != "completed":
                reason = info.error or info.status
                if not partial:
                    raise QollabJobError(
                        f"job {c.job_id} ({c.name}) {info.status}: {reason}",
                        job_id=c.job_id,
                        status_name=info.status,
                    )
                experiments.append(
                    {"shots": info.shots, "success": False, "status": reason, "data": {}, "header": header}
                )
                continue
            res = client.job_result(c.job_id)
            data: dict[str, Any] = {}
            counts = res.get("counts")
            if isinstance(counts, dict):
                data["counts"] = counts_to_hex(counts)
                if c.payload is None and counts:
                    groups = next(iter(counts)).split(" ")
                    sizes = [[f"c{i}", len(g)] for i, g in enumerate(reversed(groups))]
                    header["creg_sizes"] = sizes
                    header["memory_slots"] = sum(s for _, s in sizes)
            extra = {k: v for k, v in res.items() if k not in ("counts", "probabilities", "amplitudes")}
            experiments.append(
                {
                    "shots": int(res.get("shots") or info.shots),
                    "success": True,
                    "status": "DONE",
                    "meas_level": 2,
                    "data": data,
                    "header": header,
                    "seed_simulator": res.get("seed"),
                    "qollab_job_id": c.job_id,
                    "qollab": extra,
                }
            )
        success = all(e["success"] for e in experiments)
        result = Result.from_dict(
            {
                "backend_name": self._backend_ref.name,
                "backend_version": self._backend_ref.backend_version,
                "job_id": self.job_id(),
                "success": success,
                "results": experiments,
                "date": datetime.now(timezone.utc).isoformat(),
                "status": "COMPLETED" if success else "PARTIAL COMPLETED",
            }
        )
        if success:
            self._result = result
        return result
