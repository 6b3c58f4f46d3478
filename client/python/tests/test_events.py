"""The workspace event stream as an async iterator, reconnecting from the last id."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from qiskit import QuantumCircuit

from qollab import Event, QollabClient, QollabProvider, Workspace
from qollab.events import is_transient

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
    ids = [e.id for e in events if not is_transient(e.type)]
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


def test_live_only_events_are_yielded_after_the_stream_has_a_position(
    url: str, client: QollabClient, workspace: Workspace
) -> None:
    # A second member whose arrival is announced (presence is not stored: its id is the
    # stream's position, so a client that dropped ids it had seen would lose it).
    email = f"py-presence-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post(
            "/api/auth/register",
            json={"email": email, "password": "a python test password", "name": "Second Member"},
        )
        assert r.status_code in (200, 201), r.text
        second_token = r.json()["access_token"]
    client.request("POST", f"/api/workspaces/{workspace.id}/members", json={"email": email, "role": "viewer"})
    second = QollabClient(url, second_token)

    async def second_connects(done: asyncio.Event) -> None:
        async with second.events(workspace) as other:
            async for _ in other:
                break  # connected
            await done.wait()

    doc = client.create_document(workspace, f"moves the position {uuid.uuid4().hex[:6]}", "OPENQASM 2.0; qreg q[1];")

    async def follow() -> list[Event]:
        seen: list[Event] = []
        done = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        # From the start of the log, so the stream has a position before anyone arrives.
        async with client.events(workspace, since=0) as stream:
            async for event in stream:
                seen.append(event)
                if event.type == "doc.created" and doc.id in json.dumps(event.data) and not tasks:
                    tasks.append(asyncio.create_task(second_connects(done)))
                elif event.type == "presence.joined" and event.data.get("name") == "Second Member":
                    break
        done.set()
        await asyncio.gather(*tasks)
        return seen

    events = asyncio.run(asyncio.wait_for(follow(), timeout=60))
    arrival = events[-1]
    assert arrival.type == "presence.joined" and arrival.data["name"] == "Second Member"
    stored = [e for e in events[:-1] if not is_transient(e.type)]
    assert stored, events
    assert arrival.id == stored[-1].id > 0, "a live-only event carries the stream's position"
    second.close()
