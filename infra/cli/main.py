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
    """argparse, but a usage error that echoes an argument (`invalid choice: 'sk-...'`) shows a key masked.
    Subcommand parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        super().error(keys.redact(message))


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
    ctx = Context(args)
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
            return fail(f"{ctx.where()} does not exist (deploy the stack, or `apply` with --endpoint-url)", 2)
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
