"""Temporal over TLS: mTLS and API keys from the SDK's environment configuration, and search
attribute registration that a server refuses (Temporal Cloud) without failing start-up.

The dev server cannot serve TLS, so the mTLS tests put ``tests.tls_support.tls_proxy`` (which
requires a client certificate of a throwaway CA) in front of the shared dev server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    ListSearchAttributesResponse,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
from temporalio.testing import WorkflowEnvironment

from boot import open_resources
from core.config import Settings
from core.temporal import (
    ENVCONFIG_VARIABLES,
    connect,
    connect_config,
    describe_connection,
    register_search_attributes,
)
from core.temporal_names import SEARCH_ATTRIBUTES
from tests.tls_support import Pki, make_pki, tls_proxy


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No TLS variable of the developer's shell, and no default profile file, leaks in."""
    for name in ENVCONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "absent.toml"))
    (tmp_path / "absent.toml").write_text("")
    return monkeypatch


# --- The connect configuration (no network) ---


def test_plain_by_default() -> None:
    config = connect_config(address="localhost:7233", namespace="default", environ={})
    assert config == {"target_host": "localhost:7233", "namespace": "default"}
    assert describe_connection(config) == "localhost:7233 namespace default, plaintext"


def test_api_key_reaches_the_connect_config_and_never_the_log_line() -> None:
    secret = "tcld-api-key-that-must-stay-secret"
    config = connect_config(
        address="eu.aws.api.temporal.io:7233",
        namespace="sessions.a1b2c",
        environ={"TEMPORAL_API_KEY": secret},
    )
    assert config["api_key"] == secret
    assert config["tls"] is True  # an API key turns TLS on
    assert config["target_host"] == "eu.aws.api.temporal.io:7233"
    assert config["namespace"] == "sessions.a1b2c"
    description = describe_connection(config)
    assert secret not in description
    assert description.endswith("TLS, API key")


def test_our_address_and_namespace_win_over_the_environment_configuration() -> None:
    config = connect_config(
        address="temporal:7233",
        namespace="sessions",
        environ={"TEMPORAL_ADDRESS": "elsewhere:7233", "TEMPORAL_NAMESPACE": "other"},
    )
    assert (config["target_host"], config["namespace"]) == ("temporal:7233", "sessions")


def test_client_certificate_data_and_server_name(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    config = connect_config(
        address="sessions.a1b2c.tmprl.cloud:7233",
        namespace="sessions.a1b2c",
        environ={
            "TEMPORAL_TLS_CLIENT_CERT_DATA": pki.client_cert.read_text(),
            "TEMPORAL_TLS_CLIENT_KEY_DATA": pki.client_key.read_text(),
            "TEMPORAL_TLS_SERVER_NAME": "sessions.a1b2c.tmprl.cloud",
        },
    )
    tls = config["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == pki.client_cert.read_bytes()
    assert tls.client_private_key == pki.client_key.read_bytes()
    assert tls.domain == "sessions.a1b2c.tmprl.cloud"
    description = describe_connection(config)
    assert "PRIVATE KEY" not in description
    assert "client certificate" in description


def test_a_profile_file(tmp_path: Path) -> None:
    profile_file = tmp_path / "temporal.toml"
    profile_file.write_text(
        '[profile.cloud]\naddress = "ignored:7233"\napi_key = "from-the-profile"\n'
        '[profile.cloud.grpc_meta]\nx-team = "sessions"\n'
    )
    config = connect_config(
        address="temporal:7233",
        namespace="sessions",
        environ={"TEMPORAL_CONFIG_FILE": str(profile_file), "TEMPORAL_PROFILE": "cloud"},
    )
    assert config["api_key"] == "from-the-profile"
    assert config["target_host"] == "temporal:7233"
    assert config["rpc_metadata"] == {"x-team": "sessions"}


# --- Registration a server refuses ---


class RefusingOperatorService:
    """An operator service as Temporal Cloud answers it: adding is refused; listing is
    refused too, or (``can_list``) answered without our attributes."""

    def __init__(self, *, can_list: bool) -> None:
        self.can_list = can_list
        self.adds = 0

    async def list_search_attributes(
        self, request: ListSearchAttributesRequest
    ) -> ListSearchAttributesResponse:
        if not self.can_list:
            raise RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")
        return ListSearchAttributesResponse()

    async def add_search_attributes(self, request: AddSearchAttributesRequest) -> None:
        self.adds += 1
        raise RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")


class FakeClient:
    namespace = "sessions.a1b2c"

    def __init__(self, operator_service: RefusingOperatorService) -> None:
        self.operator_service = operator_service


@pytest.mark.parametrize("can_list", [False, True])
async def test_refused_registration_logs_one_warning_and_goes_on(
    can_list: bool, caplog: pytest.LogCaptureFixture
) -> None:
    operator = RefusingOperatorService(can_list=can_list)
    with caplog.at_level(logging.WARNING, logger="core.temporal"):
        added = await register_search_attributes(
            cast(Client, FakeClient(operator)), namespace="sessions.a1b2c"
        )
    assert added == []
    assert operator.adds == int(can_list)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "PERMISSION_DENIED" in message
    assert "tcld namespace search-attributes add --namespace sessions.a1b2c" in message
    for spec in (
        "AccountId=Keyword",
        "SessionState=Keyword",
        "ReminderDueAt=Datetime",
        "WindowClosesAt=Datetime",
        "LastCustomerMessageAt=Datetime",
    ):
        assert f"--search-attribute {spec}" in message
    assert len(SEARCH_ATTRIBUTES) == 5


@pytest.mark.parametrize("register", [True, False])
async def test_start_up_goes_on_where_registration_is_refused_or_off(
    register: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}",
        temporal_register_search_attributes=register,
    )
    operator = RefusingOperatorService(can_list=False)
    with caplog.at_level(logging.WARNING, logger="core.temporal"):
        async with open_resources(settings, temporal=cast(Client, FakeClient(operator))) as opened:
            assert opened.temporal.namespace == "sessions.a1b2c"
    assert len(caplog.records) == int(register)


# --- mTLS against the dev server, through a TLS proxy ---


@pytest.fixture
async def mtls(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[tuple[str, Pki]]:
    pki = make_pki(tmp_path)
    upstream = dev_env.client.service_client.config.target_host
    async with tls_proxy(pki, upstream=upstream) as address:
        yield address, pki


@pytest.mark.devserver
async def test_mtls_from_environment_variables(
    mtls: tuple[str, Pki], clean_environment: pytest.MonkeyPatch
) -> None:
    address, pki = mtls
    clean_environment.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(pki.client_cert))
    clean_environment.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(pki.client_key))
    clean_environment.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca_cert))
    client = await asyncio.wait_for(connect(address=address, namespace="default"), timeout=30)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert described.namespace_info.name == "default"
    # The operator service answers over mTLS too: every attribute is already there.
    assert await register_search_attributes(client, namespace="default") == []


@pytest.mark.devserver
async def test_mtls_without_a_client_certificate_is_refused(
    mtls: tuple[str, Pki], clean_environment: pytest.MonkeyPatch
) -> None:
    address, pki = mtls
    clean_environment.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca_cert))
    # The proxy ends the handshake of a client without a certificate.
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await asyncio.wait_for(connect(address=address, namespace="default"), timeout=30)
