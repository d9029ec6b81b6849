"""What every command shares: the connection options, the table client, and how to report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from handler.core import keys
from handler.settings import Settings, SettingsError
from infra.registry import Registry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


# When running containers act on a write, said once for every command that changes who gets in.
REACHES_SERVICE = "within their REVALIDATE_SECONDS (2 s by default)"
ENDPOINT_EXAMPLE = "http://127.0.0.1:8000"


class CliError(Exception):
    """A refusal: printed as `error: ...` on stderr, exit code 2, and nothing was written."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def connection_options(*, json_output: bool = True) -> argparse.ArgumentParser:
    """Options every command takes, before or after its name. SUPPRESS lets either position win. `serve` prints
    no result, so it takes no --json."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection")
    group.add_argument("--table", default=argparse.SUPPRESS, help="table name (env TABLE_NAME, default modelgate)")
    group.add_argument(
        "--endpoint-url",
        default=argparse.SUPPRESS,
        help="DynamoDB endpoint, e.g. DynamoDB Local (env DYNAMODB_ENDPOINT_URL)",
    )
    group.add_argument(
        "--region",
        default=argparse.SUPPRESS,
        help="AWS region (env AWS_REGION, else the profile's region, else us-east-1)",
    )
    group.add_argument("--profile", default=argparse.SUPPRESS, help="AWS profile for real AWS (env AWS_PROFILE)")
    if json_output:
        group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    return parser


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        try:
            env = Settings.from_env()
        except SettingsError as error:  # the service's variables, read by every command: the operator's to fix
            raise CliError(f"{error} (an environment variable: fix it or unset it)") from None
        self.table: str = getattr(args, "table", None) or env.table_name
        self.endpoint_url: str | None = getattr(args, "endpoint_url", None) or env.dynamodb_endpoint_url
        # Where each came from, for errors: a stale exported variable is the usual culprit.
        self.table_source = (
            "from --table"
            if getattr(args, "table", None)
            else "from TABLE_NAME"
            if os.environ.get("TABLE_NAME", "").strip()
            else "the default; TABLE_NAME is unset"
        )
        self.endpoint_source = (
            "from --endpoint-url" if getattr(args, "endpoint_url", None) else "from DYNAMODB_ENDPOINT_URL"
        )
        if self.endpoint_url is not None:
            _check_endpoint(self.endpoint_url, self.endpoint_source)
        # boto3's order: the flag, the environment, then the profile's configured region (read with the client).
        given = (
            ("--region", getattr(args, "region", None)),
            ("AWS_REGION", os.environ.get("AWS_REGION")),
            ("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION")),
        )
        chosen = next(((name, value) for name, value in given if value), None)
        self._region = None if chosen is None else chosen[1]
        self.region_source = "the default; AWS_REGION is unset" if chosen is None else f"from {chosen[0]}"
        self.region: str = self._region or env.region
        self.profile: str | None = getattr(args, "profile", None) or os.environ.get("AWS_PROFILE") or None
        self.json: bool = bool(getattr(args, "json", False))

    def where(self) -> str:
        """The table this command uses and where it lives (region and endpoint), each with where it came from:
        a table of the same name in another region, or behind another endpoint, is another table."""
        table = f"table {self.table!r} ({self.table_source})"
        region = f"region {self.region} ({self.region_source})"
        if self.endpoint_url:
            return f"{table} in {region} at {self.endpoint_url} ({self.endpoint_source})"
        return f"{table} in AWS DynamoDB, {region}"

    def place(self) -> str:
        """The table, its region and endpoint, in brief: `table 'modelgate' in us-east-1 at http://...`."""
        if self.endpoint_url:
            return f"table {self.table!r} in {self.region} at {self.endpoint_url}"
        return f"table {self.table!r} in AWS DynamoDB, {self.region}"

    def reaches_service(self) -> str:
        """When running containers act on a write, and which: only those serving this very table."""
        return f"{REACHES_SERVICE}, those serving {self.place()}"

    @cached_property
    def client(self) -> DynamoDBClient:
        import boto3  # noqa: PLC0415  # `--help` should not pay for boto3
        from botocore.config import Config  # noqa: PLC0415

        session = boto3.session.Session(profile_name=self.profile, region_name=self._region)
        if self._region is None and session.region_name:
            self.region_source = "the profile's region"
        self.region = session.region_name or self.region
        options: dict[str, Any] = {"config": Config(retries={"mode": "standard", "total_max_attempts": 6})}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
            if session.get_credentials() is None:  # local engines accept any credentials
                options.update(aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106
        client: DynamoDBClient = session.client("dynamodb", region_name=self.region, **options)
        return client

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.client, self.table)

    def emit(self, data: Any, human: str) -> None:
        """One result: JSON with --json, the human text otherwise."""
        if self.json:
            print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        elif human:
            print(human)

    def info(self, message: str) -> None:
        """Progress and notes go to stderr, so stdout stays the result."""
        print(message, file=sys.stderr)


def _check_endpoint(url: str, source: str) -> None:
    """botocore takes only a URL with its scheme; anything else would end in its traceback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"endpoint {url!r} ({source}) is not a URL: give its scheme and host, e.g. {ENDPOINT_EXAMPLE}")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows under upper-case headers, in columns two spaces apart; None shows as `-`."""
    cells = [[h.upper() for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def count(n: int, noun: str) -> str:
    """`1 model`, `2 models`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def when(epoch: float | None) -> str | None:
    """Epoch seconds as ISO-8601 UTC, `2027-01-01T00:00:00Z`."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ident(text: str) -> str:
    """An id or name as typed: not blank, no spaces or control characters (an unset shell variable, say), and not
    a pasted API key (it would be printed back whole)."""
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        raise argparse.ArgumentTypeError(
            f"{keys.redact(repr(text))} is not an id: it must be non-empty, without spaces"
        )
    return label(text)


def label(text: str) -> str:
    """Free text an operator names a thing with: never a pasted API key, which every listing would show whole."""
    if keys.looks_like_key(text):
        raise argparse.ArgumentTypeError(f"{keys.mask(text)} looks like an API key, not an id or a name")
    return text


def model_list(text: str) -> list[str]:
    """`a,b,c` as ids. Refuses blanks and repeats, and an empty list: one-api reads that as "no limit", which
    here is no --models at all."""
    if not text.strip():
        raise CliError(
            f"--models {text!r} names no model, which one-api reads as no limit: omit --models for every model "
            "of the group, or pass --no-models for a key that lists none"
        )
    ids = [part.strip() for part in text.split(",")]
    if "" in ids:
        raise CliError(f"--models {text!r}: an empty model id")
    try:
        return unique_ids([ident(i) for i in ids])
    except argparse.ArgumentTypeError as error:
        raise CliError(f"--models: {error}") from None


def unique_ids(ids: Sequence[str]) -> list[str]:
    for i, model_id in enumerate(ids):
        if model_id in ids[:i]:
            raise CliError(f"duplicate model id {model_id!r}")
    return list(ids)


def require_catalog(
    ctx: Context, ids: Sequence[str], *, allow_custom: bool, named: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The catalog entries of `ids`. Refuses the ids the operator `named` (default: all) that the catalog lacks,
    unless they allow custom models."""
    found = ctx.registry.catalog_entries(ids)
    missing = [i for i in (ids if named is None else named) if i not in found]
    if missing and not allow_custom:
        raise CliError(
            f"not in the catalog: {', '.join(missing)} (import them with `modelgate models import`, "
            "or pass --allow-custom to list them as owned_by custom)"
        )
    return found


def progress_bar(total: int, label: str, stream: TextIO | None = None) -> Callable[[int], None] | None:
    """A one-line bar on stderr, only when stderr is a terminal: logs and pipes get no carriage returns."""
    out = stream or sys.stderr
    if total <= 0 or not out.isatty():
        return None

    def update(done: int) -> None:
        filled = 30 * done // total
        out.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done >= total:
            out.write("\n")
        out.flush()

    return update
