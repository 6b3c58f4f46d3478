"""Authentication, workspaces, and the error envelope."""

from __future__ import annotations

import os

import pytest

from qollab import QollabClient, QollabError, QollabProvider, Workspace


def test_login_with_email_and_password(url: str) -> None:
    email, password = os.environ.get("QOLLAB_EMAIL"), os.environ.get("QOLLAB_PASSWORD")
    if not email or not password:
        pytest.skip("QOLLAB_EMAIL / QOLLAB_PASSWORD not set")
    provider = QollabProvider.login(url, email, password)
    assert not provider.client.token.startswith("qlb_")
    assert provider.get_backend("ideal").name == "ideal"
    assert provider.client.me()["user"]["email"] == email
    with pytest.raises(QollabError) as e:
        QollabProvider.login(url, email, "not the password")
    assert e.value.status == 401


def test_a_personal_api_token_works_and_a_bad_one_is_refused(url: str, token: str) -> None:
    assert token.startswith("qlb_")
    with pytest.raises(QollabError) as e:
        QollabClient(url, "qlb_not-a-real-token").workspaces()
    assert e.value.status == 401 and e.value.code and e.value.message


def test_workspaces_list_create_and_resolve_by_name(client: QollabClient, workspace: Workspace) -> None:
    made = client.create_workspace("Python lab", description="made by pytest")
    listed = client.workspaces()
    assert {made.id, workspace.id} <= {w.id for w in listed}
    assert made.role == "owner" and made.description == "made by pytest"
    assert client.workspace(made.id) == made
    assert client.workspace_id(workspace.name) == workspace.id


def test_the_error_envelope_becomes_a_qollab_error(client: QollabClient) -> None:
    with pytest.raises(QollabError) as e:
        client.workspace("00000000-0000-7000-8000-000000000000")
    assert e.value.status == 404 and e.value.code == "not_found"
    with pytest.raises(QollabError) as e:
        client.create_workspace("")
    assert e.value.status == 422 and e.value.details
