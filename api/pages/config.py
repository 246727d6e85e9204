"""Configuration of the operator pages: only where the sandbox's control endpoints are.

Kept apart from ``core.config.Settings`` on purpose (the pages are optional and owned here):

- ``SANDBOX_URL`` (optional): base URL of the stand-in Graph API whose ``/_sandbox/messages`` the
  outbox lists. Unset, the outbox asks ``WHATSAPP_API_BASE_URL``, which *is* the sandbox in the
  local stack's sandbox mode.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class PagesSettings(BaseSettings):
    """What the pages read from the environment (and ``.env``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    sandbox_url: str | None = None


@lru_cache
def get_pages_settings() -> PagesSettings:
    """The process-wide pages settings, read once (tests override this dependency)."""
    return PagesSettings()
