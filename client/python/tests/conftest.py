"""Fixtures: a real Qollab server named by the environment.

``cargo test -p qollab-tests --test integration python::`` (tests/tests/python.rs)
starts a server, registers a user and sets ``QOLLAB_URL``, ``QOLLAB_TOKEN`` (a
personal API token), ``QOLLAB_EMAIL`` and ``QOLLAB_PASSWORD``. Run by hand against any
server with those set; without them every test is skipped.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

from qollab import QollabClient, QollabProvider, Workspace


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.skip(f"{name} is not set: run through `cargo test -p qollab-tests --test integration python::`")
    return value


@pytest.fixture(scope="session")
def url() -> str:
    return _env("QOLLAB_URL")


@pytest.fixture(scope="session")
def token() -> str:
    return _env("QOLLAB_TOKEN")


@pytest.fixture(scope="session")
def provider(url: str, token: str) -> Iterator[QollabProvider]:
    p = QollabProvider(url, token)
    yield p
    p.client.close()


@pytest.fixture(scope="session")
def client(provider: QollabProvider) -> QollabClient:
    return provider.client


@pytest.fixture(scope="session")
def workspace(provider: QollabProvider) -> Workspace:
    ws = provider.create_workspace(f"pytest {uuid.uuid4().hex[:8]}", description="qollab Python client tests")
    provider.workspace = ws
    return ws
