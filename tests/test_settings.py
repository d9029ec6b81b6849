"""Settings.from_env: the function is configured by environment variables only, with documented defaults."""

from __future__ import annotations

import pytest

from handler.settings import Settings, SettingsError


def test_the_defaults() -> None:
    """GIVEN an empty environment WHEN settings are read THEN the documented defaults; revalidation every 2 s."""
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.table_name == "modelgate"
    assert settings.dynamodb_endpoint_url is None
    assert settings.region == "us-east-1"
    assert settings.session_secret is None
    assert settings.session_secret_arn is None
    assert settings.session_cookie == "modelgate_session"
    assert settings.anonymous_access is True
    assert settings.revalidate_seconds == 2.0
    assert settings.cache_max_age_seconds == 3600.0
    assert settings.cors_allow_origins == ("*",)
    assert settings.cors_credential_origins == ()
    assert settings.openai_list_metadata is False


def test_every_variable_is_read() -> None:
    """GIVEN every documented variable set WHEN read THEN each lands in its field, whitespace trimmed."""
    settings = Settings.from_env(
        {
            "TABLE_NAME": " models-prod ",
            "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8001",
            "AWS_REGION": "eu-west-1",
            "SESSION_SECRET": "s" * 40,
            "SESSION_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
            "SESSION_COOKIE_NAME": "sid",
            "ANONYMOUS_ACCESS": "false",
            "REVALIDATE_SECONDS": "0.5",
            "CACHE_MAX_AGE_SECONDS": "600",
            "CACHE_MAX_ENTRIES": "100",
            "STALE_IF_ERROR_SECONDS": "0",
            "CLIENT_CACHE_MAX_AGE": "0",
            "GZIP_MIN_BYTES": "0",
            "CORS_ALLOW_ORIGINS": "https://a.example, https://b.example/",
            "CORS_CREDENTIAL_ORIGINS": "https://a.example",
            "OPENAI_LIST_METADATA": "true",
        }
    )
    assert settings == Settings(
        table_name="models-prod",
        dynamodb_endpoint_url="http://127.0.0.1:8001",
        region="eu-west-1",
        session_secret="s" * 40,
        session_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
        session_cookie="sid",
        anonymous_access=False,
        revalidate_seconds=0.5,
        cache_max_age_seconds=600.0,
        cache_max_entries=100,
        stale_if_error_seconds=0.0,
        client_max_age_seconds=0,
        gzip_min_bytes=0,
        cors_allow_origins=("https://a.example", "https://b.example"),
        cors_credential_origins=("https://a.example",),
        openai_list_metadata=True,
    )


def test_aws_region_wins_over_the_default_region() -> None:
    """GIVEN AWS_REGION (set by Lambda) and AWS_DEFAULT_REGION WHEN read THEN AWS_REGION; alone, the other."""
    assert Settings.from_env({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}).region == "eu-west-1"
    assert Settings.from_env({"AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), ("yes", True), ("off", False), ("0", False)])
def test_anonymous_access_accepts_the_usual_booleans(raw: str, value: bool) -> None:
    """GIVEN ANONYMOUS_ACCESS spelled in the usual ways WHEN read THEN the boolean it means."""
    assert Settings.from_env({"ANONYMOUS_ACCESS": raw}).anonymous_access is value


@pytest.mark.parametrize("name", ["TABLE_NAME", "DYNAMODB_ENDPOINT_URL", "SESSION_COOKIE_NAME", "REVALIDATE_SECONDS"])
def test_blank_values_mean_the_default(name: str) -> None:
    """GIVEN a variable set to blanks (as templates often leave it) WHEN read THEN the default, not an error."""
    assert Settings.from_env({name: "  "}) == Settings()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("ANONYMOUS_ACCESS", "maybe-sk-secret"),
        ("OPENAI_LIST_METADATA", "sometimes-sk-secret"),
        ("REVALIDATE_SECONDS", "thirty-sk-secret"),
        ("REVALIDATE_SECONDS", "-1"),
        ("REVALIDATE_SECONDS", "nan"),
        ("REVALIDATE_SECONDS", "99999"),
        ("CACHE_MAX_ENTRIES", "-5"),
        ("CLIENT_CACHE_MAX_AGE", "inf"),
    ],
)
def test_a_bad_value_names_the_variable_and_never_quotes_it(name: str, raw: str) -> None:
    """GIVEN an unusable value WHEN read THEN SettingsError naming the variable, without echoing the value."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: raw})
    assert name in str(caught.value)
    assert raw not in str(caught.value)


def test_credentialed_cors_for_any_origin_is_refused() -> None:
    """GIVEN CORS_CREDENTIAL_ORIGINS=* WHEN read THEN refused: cookies are allowed per named origin only."""
    with pytest.raises(SettingsError, match="CORS_CREDENTIAL_ORIGINS"):
        Settings.from_env({"CORS_CREDENTIAL_ORIGINS": "*"})


def test_the_session_secret_never_shows_in_repr() -> None:
    """GIVEN a SESSION_SECRET WHEN the settings are printed or logged THEN the secret is not in their repr."""
    secret = "do-not-print-me-0123456789abcdef0123456"
    assert secret not in repr(Settings.from_env({"SESSION_SECRET": secret}))


def test_the_former_cache_ttl_is_refused_with_what_replaces_it() -> None:
    """GIVEN CACHE_TTL_SECONDS left set from an older deployment WHEN read THEN SettingsError naming both new
    variables, so the operator knows what to set instead."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CACHE_TTL_SECONDS": "30"})
    assert str(caught.value) == (
        "CACHE_TTL_SECONDS is gone: containers now revalidate against the table's change marker; "
        "set REVALIDATE_SECONDS (default 2) or CACHE_MAX_AGE_SECONDS (default 3600) instead"
    )
