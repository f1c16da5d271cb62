"""Fixtures for tests against third-party servers (peers) started on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.oauth_server import OAuthServer, missing, oauth_server

OAUTH_CLIENT_ID = "device-fleet"
OAUTH_CLIENT_SECRET = "s3cr3t-9f2c41d7e8a6b5"  # distinctive: tests grep run files for it
OAUTH_CLIENTS = 3
OAUTH_TTL = 900


@pytest.fixture(scope="session")
def oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthServer]:
    """oidc-provider with client-credentials clients ``device-fleet`` and
    ``device-fleet-1`` .. ``-3``, one secret, tokens living 900 s."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    with oauth_server(tmp_path_factory.mktemp("oauth"), client_id=OAUTH_CLIENT_ID,
                      client_secret=OAUTH_CLIENT_SECRET, clients=OAUTH_CLIENTS,
                      ttl=OAUTH_TTL) as server:
        yield server
