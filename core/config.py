"""Service configuration: one ``Settings`` model read from the environment (and ``.env``).

Every process (API, worker, local stack, benchmarks) reads its configuration through the cached
``get_settings()``; docs/operating.md#configuration lists every variable. Each field is the
upper-cased variable name (``DATABASE_URL`` → ``database_url``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

# Placeholder secrets are accepted in development so that `make run` works out of the box, and
# refused everywhere else so that a production deployment cannot start with a well-known secret.
DEV_PLACEHOLDER = "change-me"
# The shortest secret production accepts: an empty or short API token or app secret is
# guessable, and an empty CONVERSATION_KEY_SECRET turns the keyed hash of customer numbers into
# a plain hash anybody can reverse by trying every number.
MIN_SECRET_LENGTH = 16
SECRET_SETTINGS = (
    "api_token",
    "whatsapp_app_secret",
    "whatsapp_verify_token",
    "conversation_key_secret",
)


class Settings(BaseSettings):
    """Everything configurable, with the embedded defaults of the local stack."""

    # hide_input_in_errors: a validation error would otherwise quote the raw input, secrets and
    # all, in the message a refused start-up prints.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Literal["development", "test", "production"] = "development"

    database_url: str = "sqlite+aiosqlite:///./data/sessions.db"
    # Extra: the database password, kept out of DATABASE_URL. When set it replaces the URL's
    # password as a value (``URL.set``), never pasted into the URL's text, so any character
    # works (``@``, ``/``, ``%``, ``:``) without escaping; read it through
    # ``database_engine_url()`` (docs/operating.md#secrets-in-production).
    database_password: SecretStr | None = None
    # Extra: connections each process keeps to PostgreSQL, and how many more it may open under
    # load (SQLAlchemy's pool_size and max_overflow); size PostgreSQL's max_connections for
    # every process's sum (docs/operating.md#scaling-out). Ignored for SQLite.
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    # Extra: migrate the schema to head at start-up (the local stack, compose). False: only
    # check that it is at head and refuse to start if not, the migrations being a step of their
    # own (``python -m store.migrate``, the Kubernetes Job; docs/operating.md#kubernetes).
    migrate_on_start: bool = True

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "whatsapp-sessions"
    temporal_ui_url: str = "http://localhost:8233"
    # Extra: register the custom search attributes at start-up where missing. A server that
    # refuses (Temporal Cloud manages them with tcld or its UI) only logs a warning; false
    # skips the attempt. TLS, mTLS and API keys come from the SDK's environment configuration
    # (TEMPORAL_API_KEY, TEMPORAL_TLS_*, core.temporal.connect_config), not from here.
    temporal_register_search_attributes: bool = True

    api_token: SecretStr = SecretStr(DEV_PLACEHOLDER)

    whatsapp_app_secret: SecretStr = SecretStr(DEV_PLACEHOLDER)
    whatsapp_verify_token: SecretStr = SecretStr(DEV_PLACEHOLDER)
    whatsapp_api_base_url: str = "https://graph.facebook.com"
    # Graph API version in every send URL ("v26.0", July 2026). Meta retires a version about two
    # years after its release, so keep this current (docs/operating.md#graph-api-version).
    whatsapp_api_version: str = Field(default="v26.0", pattern=r"^v[1-9][0-9]*\.[0-9]+$")

    # Extra: key of the keyed hash that names conversations in Temporal (workflow ids, search
    # attributes, logs) without the customer's raw phone number. Changing it orphans running
    # sessions, so it is configured once per deployment.
    conversation_key_secret: SecretStr = SecretStr(DEV_PLACEHOLDER)

    # Extra: where the worker serves Prometheus metrics (Temporal SDK metrics and reminder
    # decisions by outcome), e.g. "0.0.0.0:9464"; unset, the worker serves none.
    worker_metrics_address: str | None = None

    # Extra: seconds the WhatsApp client waits for Meta before treating a send as ambiguous.
    whatsapp_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a send that may have reached Meta waits for a status webhook as proof before it
    # is sent again (docs/sending.md#ambiguous-attempts).
    whatsapp_ambiguous_wait_seconds: float = Field(default=60.0, gt=0)
    # Meta's throughput per business number (80 by default, 20 for numbers shared with the
    # WhatsApp Business app, up to 1,000 after Meta's upgrade), kept by every worker together
    # (docs/sending.md#pacing); and how many sends may go at once after a pause.
    send_rate_per_second: float = Field(default=80.0, gt=0, le=1000)
    send_burst: int = Field(default=1, ge=1, le=1000)
    # How long the worker lets in-flight activities finish after SIGTERM; longer than one send.
    worker_shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # How often the worker re-delivers settings versions that some running session may have
    # missed (docs/sessions.md#settings-changes).
    settings_reconcile_seconds: float = Field(default=60.0, gt=0)
    # Extra: run the workflows in the SDK's sandbox in the worker too. Off by default: the
    # sandbox re-imports the workflow module for every new session and wraps every activation,
    # about half of the worker's CPU per new session; the tests run every workflow inside it,
    # so a non-deterministic call still fails them (docs/operating.md#the-workflow-sandbox).
    workflow_sandbox: bool = False
    # Extra: worker processes ``python worker.py`` runs (one per core is the usual choice): one
    # Python process uses one core at most, and every process polls the same task queue.
    worker_processes: int = Field(default=1, ge=1, le=64)
    # How many days the worker keeps final reminder audit records (their rendered text names
    # the customer) before a daily purge deletes them; 0 keeps them forever. At least 2
    # otherwise: a record must outlive its silence's 24-hour window (SECURITY.md).
    audit_retention_days: int = Field(default=90, ge=0)

    # Where ``python -m api`` listens. Loopback by default: the placeholder secrets are only
    # safe there; the container image sets API_HOST=0.0.0.0.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    # The local stack (``make run``): where it keeps its files, where its stand-in Graph API
    # listens, and where the outbox page finds that stand-in (unset: WHATSAPP_API_BASE_URL,
    # which *is* the stand-in in sandbox mode).
    data_dir: Path = Path("./data")
    sandbox_port: int = Field(default=8081, ge=1, le=65535)
    sandbox_url: str | None = None

    def database_engine_url(self) -> URL:
        """DATABASE_URL as a SQLAlchemy ``URL``, its password replaced by DATABASE_PASSWORD if set.

        Hand the ``URL`` itself to the engine (``store.db.create_engine``, ``store.migrate``):
        ``str()`` of it masks the password as ``***``, which keeps it out of logs and reprs.
        """
        url = make_url(self.database_url)
        if self.database_password is not None:
            url = url.set(password=self.database_password.get_secret_value())
        return url

    @model_validator(mode="after")
    def _database_password_needs_a_server(self) -> Settings:
        if self.database_password is not None and self.database_url.startswith("sqlite"):
            raise ValueError("DATABASE_PASSWORD is set but DATABASE_URL is a SQLite file")
        return self

    @model_validator(mode="after")
    def _audit_retention_outlives_the_window(self) -> Settings:
        if self.audit_retention_days == 1:
            raise ValueError("audit_retention_days must be 0 (keep forever) or at least 2")
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        refused = [
            f"{name.upper()} {rule}"
            for name in SECRET_SETTINGS
            if (rule := weak_secret_rule(getattr(self, name).get_secret_value())) is not None
        ]
        if refused:
            # Names and rules only: the value itself never reaches an error message or a log.
            raise ValueError("weak secrets refused in production: " + "; ".join(refused))
        return self


def weak_secret_rule(value: str) -> str | None:
    """Why ``value`` is too weak to be a production secret, or None if it is strong enough.

    Surrounding whitespace is trimmed first, so that " change-me" (a copy-paste slip) is still
    the placeholder and a padded short secret is still short.
    """
    trimmed = value.strip()
    if trimmed == DEV_PLACEHOLDER:
        return f"is the development placeholder {DEV_PLACEHOLDER!r}"
    if len(trimmed) < MIN_SECRET_LENGTH:
        return f"must be at least {MIN_SECRET_LENGTH} characters"
    return None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
