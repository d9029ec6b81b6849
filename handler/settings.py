"""One settings object, read from the environment once per Lambda container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use. The message names the variable, never its value."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false")


def _number(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}")
    return value


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    table_name: str = "modelgate"
    dynamodb_endpoint_url: str | None = None
    region: str = "us-east-1"
    # Signs login sessions. From the environment only; the deployed stack resolves it from Secrets Manager.
    session_secret: str | None = field(default=None, repr=False)
    session_secret_arn: str | None = None
    session_cookie: str = "modelgate_session"
    anonymous_access: bool = True
    # A warm container reads the change marker at most this often; a disabled key is refused within about this long.
    revalidate_seconds: float = 2.0
    # Whatever the marker says, nothing read is trusted longer than this.
    cache_max_age_seconds: float = 3600.0
    cache_max_entries: int = 10_000
    stale_if_error_seconds: float = 300.0
    client_max_age_seconds: int = 30
    gzip_min_bytes: int = 1024
    cors_allow_origins: tuple[str, ...] = ("*",)
    cors_credential_origins: tuple[str, ...] = ()
    # OpenAI model objects also carry the catalog's metadata (name, display_name, description, context_length,
    # max_output_tokens). Off: the documented objects, byte for byte.
    openai_list_metadata: bool = False
    # EMF metrics go to this CloudWatch namespace; empty (the default outside Lambda) turns them off.
    metrics_namespace: str = ""
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        credential_origins = _list(env, "CORS_CREDENTIAL_ORIGINS", ())
        if "*" in credential_origins:
            raise SettingsError("CORS_CREDENTIAL_ORIGINS must list origins explicitly, never *")
        if env.get("CACHE_TTL_SECONDS", "").strip():
            raise SettingsError(
                "CACHE_TTL_SECONDS is gone: containers now revalidate against the table's change marker; "
                "set REVALIDATE_SECONDS (default 2) or CACHE_MAX_AGE_SECONDS (default 3600) instead"
            )
        return cls(
            table_name=env.get("TABLE_NAME", "").strip() or cls.table_name,
            dynamodb_endpoint_url=env.get("DYNAMODB_ENDPOINT_URL", "").strip() or None,
            region=(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region).strip(),
            session_secret=env.get("SESSION_SECRET") or None,
            session_secret_arn=env.get("SESSION_SECRET_ARN", "").strip() or None,
            session_cookie=env.get("SESSION_COOKIE_NAME", "").strip() or cls.session_cookie,
            anonymous_access=_bool(env, "ANONYMOUS_ACCESS", cls.anonymous_access),
            revalidate_seconds=_number(env, "REVALIDATE_SECONDS", cls.revalidate_seconds, low=0, high=3600),
            cache_max_age_seconds=_number(env, "CACHE_MAX_AGE_SECONDS", cls.cache_max_age_seconds, low=0, high=86_400),
            cache_max_entries=int(_number(env, "CACHE_MAX_ENTRIES", cls.cache_max_entries, low=1, high=10**7)),
            stale_if_error_seconds=_number(
                env, "STALE_IF_ERROR_SECONDS", cls.stale_if_error_seconds, low=0, high=86_400
            ),
            client_max_age_seconds=int(
                _number(env, "CLIENT_CACHE_MAX_AGE", cls.client_max_age_seconds, low=0, high=86_400)
            ),
            gzip_min_bytes=int(_number(env, "GZIP_MIN_BYTES", cls.gzip_min_bytes, low=0, high=10**9)),
            cors_allow_origins=_list(env, "CORS_ALLOW_ORIGINS", cls.cors_allow_origins),
            cors_credential_origins=credential_origins,
            openai_list_metadata=_bool(env, "OPENAI_LIST_METADATA", cls.openai_list_metadata),
            metrics_namespace=env.get("METRICS_NAMESPACE", "").strip(),
            log_level=env.get("MODELGATE_LOG_LEVEL", "").strip().upper() or cls.log_level,
        )
