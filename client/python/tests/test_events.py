"""The workspace event stream as an async iterator, reconnecting from the last id."""

from __future__ import annotations

import asyncio

from qiskit import QuantumCircuit

from qollab import Event, QollabClient, QollabProvider, Workspace

TERMINAL = {"job.completed", "job.failed", "job.cancelled"}


def test_the_event_stream_yields_a_jobs_events(provider: QollabProvider, workspace: Workspace) -> None:
    client = provider.client
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.measure(0, 0)

    async def follow() -> list[Event]:
        seen: list[Event] = []
        async with client.events(workspace) as stream:
            job = None
            async for event in stream:
                seen.append(event)
                if job is None:
                    # Connected (our own presence.joined arrived): now submit.
                    job = await asyncio.to_thread(
                        provider.get_backend("ideal").run, qc, shots=20, workspace=workspace.id
                    )
                if job is not None and event.job_id == job.job_id() and event.type in TERMINAL:
                    return seen
        return seen

    events = asyncio.run(asyncio.wait_for(follow(), timeout=60))
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[0].type == "presence.joined"
    job_events = [e for e in events if e.type.startswith("job.")]
    types = [e.type for e in job_events]
    assert "job.created" in types and "job.started" in types and types[-1] == "job.completed", types
    done = job_events[-1]
    assert done.data["job"]["status"] == "completed"
    assert all(e.workspace_id == workspace.id for e in events)


def test_the_stream_resumes_after_a_given_id(client: QollabClient, workspace: Workspace) -> None:
    for i in range(3):
        client.create_document(workspace, f"for events {i}", "OPENQASM 2.0; qreg q[1];")

    async def take(since: int | None, n: int) -> list[Event]:
        out: list[Event] = []
        async with client.events(workspace, since=since) as stream:
            async for e in stream:
                out.append(e)
                if len(out) == n:
                    break
        return out

    everything = asyncio.run(asyncio.wait_for(take(0, 3), timeout=30))
    assert [e.id for e in everything] == [1, 2, 3]
    resumed = asyncio.run(asyncio.wait_for(take(everything[1].id, 1), timeout=30))
    assert resumed[0].id == everything[2].id and resumed[0].type == everything[2].type
