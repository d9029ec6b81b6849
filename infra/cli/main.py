"""`modelgate`: run the service locally and manage its table."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from handler.core import keys
from infra.cli import apikeys, catalog, groups, migrate, seeding, serve, sessions, status, users
from infra.cli.context import CliError, Context, connection_options
from infra.registry import Contended, Refused, RegistryError, retry_conflicts
from infra.seed import SeedError

# Exit codes: 0 done; 1 DynamoDB unreachable or failing; 2 refused (nothing written); 3 other writers kept changing
# the table and the retries ran out (nothing of the last attempt written; run it again).
CONTENDED = 3
COMMAND_MODULES = (serve, seeding, catalog, groups, users, apikeys, sessions, migrate, status)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error that echoes an argument (`invalid choice: 'sk-...'`) shows a key masked, and
    an unknown option shows the usage of the command it was given to. Subcommand parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        super().error(keys.redact(message))

    def parse_args(  # type: ignore[override]  # one signature is enough here
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            _chosen(self, parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def _chosen(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)command parser that `parsed` went through: `key create`'s for `key create --bogus`."""
    for action in parser._actions:  # argparse keeps its subcommands nowhere public
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
            if chosen is not None:
                return _chosen(chosen, parsed)
    return parser


def build_parser() -> argparse.ArgumentParser:
    common = connection_options()
    parser = Parser(
        prog="modelgate",
        description="Serverless GET /v1/models for OpenAI-compatible gateways: serve it locally, manage its table.",
        epilog="exit codes: 0 done; 1 DynamoDB cannot be reached (or failed); 2 refused, nothing written; "
        "3 other writers kept changing the table and the retries ran out, nothing of the last try written "
        "(run it again)",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser


def fail(message: str, code: int) -> int:
    """`error: ...` on stderr. Messages echo what was typed, so a key pasted where an id goes is shown masked."""
    print(f"error: {keys.redact(message)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ctx = Context(args)
    except CliError as error:
        return fail(error.message, error.exit_code)
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound  # noqa: PLC0415

    try:
        code: int = retry_conflicts(lambda: args.run(ctx, args))
    except CliError as error:
        return fail(error.message, error.exit_code)
    except (Refused, SeedError) as error:
        return fail(str(error), 2)
    except Contended as error:
        return fail(str(error), CONTENDED)
    except RegistryError as error:
        return fail(str(error), 1)
    except NoCredentialsError:
        return fail("no AWS credentials found (use --profile, or --endpoint-url for a local DynamoDB)", 1)
    except ClientError as error:
        code_name = error.response.get("Error", {}).get("Code", "")
        if code_name == "ResourceNotFoundException":  # a wrong --table is the operator's to fix, like a refusal
            return fail(
                f"{ctx.where()} does not exist: check that the region and endpoint are the service's (a table in "
                "another region is another table); to make this one, deploy the stack, or `apply` with --endpoint-url",
                2,
            )
        return fail(f"DynamoDB refused the request: {code_name}", 1)
    except ProfileNotFound:
        return fail(f"AWS profile {ctx.profile!r} not found in the AWS config files", 2)
    except BotoCoreError as error:
        return fail(f"cannot reach DynamoDB for {ctx.where()}: {error}", 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `modelgate models list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())
