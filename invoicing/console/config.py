"""The console's own settings, ``INVOICING_CONSOLE_*``; the pipeline's settings (broker, topic
prefix, app id, register) are the ones every other command reads."""
from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConsoleSettings"]


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_CONSOLE_", extra="ignore")

    secret_key: SecretStr | None = Field(None, description="Signs the session cookies. Unset: a random key per start "
                                                           "(everyone signs in again after a restart). Set it when "
                                                           "several console processes serve one address.")
    secure_cookies: bool | None = Field(None, description="Mark cookies Secure. Unset: when the request came over TLS "
                                                          "(https, or X-Forwarded-Proto: https from a proxy).")
    session_hours: float = Field(12.0, gt=0, description="A sign-in lasts this long.")
    login_attempts: int = Field(5, ge=1, description="Failed sign-ins allowed per user name and per address within "
                                                    "login_window seconds; then 429 until the window passes.")
    login_window: float = Field(900.0, gt=0)
    worker_metrics_urls: list[str] | None = Field(None, description="The workers' /metrics URLs for the Health page "
                                                                    "(default: 127.0.0.1 at INVOICING_METRICS_PORT).")
    gateway_metrics_urls: list[str] | None = Field(None, description="The gateways' /metrics URLs (default: "
                                                                     "http://127.0.0.1:8080/metrics).")
