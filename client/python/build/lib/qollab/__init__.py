"""Qollab for Python: a Qiskit provider and a thin client for a Qollab server.

>>> from qollab import QollabProvider
>>> provider = QollabProvider("http://localhost:8080", token, workspace="Bell states")
>>> backend = provider.get_backend("emulator:qollab_falcon27")
"""

from .backend import QollabBackend, build_target
from .client import BackendInfo, Document, DocumentDetail, JobInfo, QollabClient, Workspace
from .errors import QollabError, QollabJobError
from .events import Event, EventStream
from .job import QollabJob, job_status
from .provider import QollabProvider
from .qasm import from_qasm, to_qasm

__version__ = "0.1.0"

__all__ = [
    "BackendInfo",
    "Document",
    "DocumentDetail",
    "Event",
    "EventStream",
    "JobInfo",
    "QollabBackend",
    "QollabClient",
    "QollabError",
    "QollabJob",
    "QollabJobError",
    "QollabProvider",
    "Workspace",
    "build_target",
    "from_qasm",
    "job_status",
    "to_qasm",
]
