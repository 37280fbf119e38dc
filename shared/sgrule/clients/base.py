"""What every official SDK client we build shares: its Config from our settings (credentials, timeouts)."""
from __future__ import annotations

from typing import Any

from ..runtime.config import CommonSettings


def sdk_config(settings: CommonSettings, region_id: str) -> Any:
    """A tea-openapi ``Config`` with our credentials, region and timeouts (imported on first use)."""
    from alibabacloud_tea_openapi.utils_models import Config

    return _config(settings, Config, region_id)


def _config(settings: CommonSettings, config_cls: Any, region_id: str) -> Any:
    if settings.access_key_id and settings.access_key_secret:
        config = config_cls(
            access_key_id=settings.access_key_id,
            access_key_secret=settings.access_key_secret.get_secret_value(),
            security_token=settings.security_token.get_secret_value() if settings.security_token else None,
        )
    else:  # the SDK's default chain (env, profile, RAM role); with tea-openapi 0.4 it must be explicit
        from alibabacloud_credentials.client import Client as CredentialClient

        config = config_cls(credential=CredentialClient())
    config.region_id = region_id
    config.connect_timeout = settings.connect_timeout_ms
    config.read_timeout = settings.read_timeout_ms
    return config


def static_credentials(settings: CommonSettings) -> tuple[str, str, str] | None:
    """(access key id, secret, security token or "") from the settings, or None to use the SDK's default
    credential chain (for SDKs that take the key itself, as the MNS SDK does)."""
    if not (settings.access_key_id and settings.access_key_secret):
        return None
    token = settings.security_token.get_secret_value() if settings.security_token else ""
    return settings.access_key_id, settings.access_key_secret.get_secret_value(), token
