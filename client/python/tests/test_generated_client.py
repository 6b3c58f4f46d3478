"""An OpenAPI generator makes a working typed client from the live ``/api/openapi.json``.

openapi-python-client (a widely used generator, pinned in requirements-test.txt) runs
on the document this server serves, with warnings as failures, and the client it
writes then drives a real flow with its own typed models: a workspace, a document
written as JSON, a job run to its result, and paged lists followed by cursor. A
schema that disagrees with what the server sends fails here, in the generated model.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

BELL = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'


def generate(url: str, where: Path) -> str:
    """Generates the client package ``qollab_api`` under ``where``; returns its name."""
    spec = httpx.get(f"{url}/api/openapi.json", timeout=30).json()
    # This generator reads no text/plain request bodies (nor, on 0.29, a choice of two
    # content types). Where an operation also takes JSON, the JSON form is what a
    # generated client uses; any text-only body is left in and fails the generation.
    both = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            if "text/plain" in content and "application/json" in content:
                del content["text/plain"]
                both.append(f"{method.upper()} {path}")
    assert both == ["PUT /api/docs/{doc_id}/qasm"], both
    (where / "openapi.json").write_text(json.dumps(spec))
    # No formatter run afterwards (that would need ruff, which says nothing about the API).
    (where / "config.json").write_text(json.dumps({"post_hooks": []}))
    generator = Path(sys.executable).parent / "openapi-python-client"
    out = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            "openapi.json",
            "--config",
            "config.json",
            "--meta",
            "none",
            "--output-path",
            "qollab_api",
            "--fail-on-warning",
        ],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"the generator refused the document:\n{out.stdout}\n{out.stderr}"
    return "qollab_api"


def load(where: Path, package: str) -> ModuleType:
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(where))


def test_a_client_generated_from_the_openapi_document_works(url: str, token: str, tmp_path: Path) -> None:
    package = generate(url, tmp_path)
    api = load(tmp_path, package)

    def op(operation_id: str) -> Any:
        """The generated module of an operation (under its tag, named after its id)."""
        tag = operation_id.split("_")[0]
        return importlib.import_module(f"{package}.api.{tag}.{operation_id}")

    models = importlib.import_module(f"{package}.models")
    client = api.AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True)

    ws = op("workspaces_create").sync(
        client=client, body=models.CreateWorkspaceRequest(name=f"generated {uuid.uuid4().hex[:8]}")
    )
    assert isinstance(ws, models.Workspace), ws
    doc = op("docs_create").sync(workspace_id=ws.id, client=client, body=models.CreateDocRequest(name="Bell"))
    assert isinstance(doc, models.DocSummary), doc

    # The circuit written as JSON (the same edit as the text/plain form).
    detail = op("docs_import_qasm").sync(doc_id=doc.id, client=client, body=models.ImportQasmRequest(qasm=BELL))
    assert isinstance(detail, models.DocDetail), detail
    assert detail.stats.qubits == 2 and detail.stats.two_qubit_gates == 1
    bad = op("docs_import_qasm").sync_detailed(
        doc_id=doc.id, client=client, body=models.ImportQasmRequest(qasm="OPENQASM 2.0;\nqreg q[1];\nfoo q[0];\n")
    )
    assert bad.status_code == 422
    assert isinstance(bad.parsed, models.ErrorBody), bad.parsed
    assert bad.parsed.error.code.value == "invalid_qasm"

    # A job from the document, followed to its result.
    request = models.SubmitJobRequest.from_dict({"source": {"doc_id": str(doc.id)}, "shots": 200})
    job = op("jobs_submit").sync(workspace_id=ws.id, client=client, body=request)
    assert isinstance(job, models.Job), job
    deadline = time.monotonic() + 60
    while job.status.value not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job stuck in {job.status}"
        time.sleep(0.1)
        job = op("jobs_get").sync(job_id=job.id, client=client)
    assert job.status.value == "completed", job
    result = op("jobs_result").sync(job_id=job.id, client=client)
    assert isinstance(result, models.JobResult), result
    counts = result.counts.to_dict()
    assert sum(counts.values()) == 200 and set(counts) <= {"00", "11"}, counts

    # Paged lists: every page a typed page, followed by its cursor.
    for _ in range(2):
        op("jobs_submit").sync(workspace_id=ws.id, client=client, body=request)
    seen: list[Any] = []
    cursor: Any = None
    for _ in range(10):
        kwargs = {"cursor": cursor} if cursor else {}
        page = op("jobs_list").sync(workspace_id=ws.id, client=client, limit=1, **kwargs)
        assert isinstance(page, models.JobPage), page
        seen.extend(j.id for j in page.items)
        cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
        if not cursor:
            break
    assert len(seen) == 3 and len(set(seen)) == 3 and job.id in seen
    events = op("events_list").sync(workspace_id=ws.id, client=client, limit=200)
    assert isinstance(events, models.EventPage), events
    assert [e.id for e in events.items] == sorted((e.id for e in events.items), reverse=True)
    members = op("workspaces_members").sync(workspace_id=ws.id, client=client)
    assert isinstance(members, models.MemberPage) and members.items[0].role.value == "owner"
