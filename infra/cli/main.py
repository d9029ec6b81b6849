"""`modelgate`: run the service locally and manage its table."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from infra.cli import apikeys, catalog, groups, seeding, serve, sessions, users
from infra.cli.context import CliError, Context, connection_options
from infra.registry import Contended, Refused, RegistryError, retry_conflicts
from infra.seed import SeedError

# Exit codes: 0 done; 1 DynamoDB unreachable or failing; 2 refused (nothing written); 3 other writers kept changing
# the table and the retries ran out (nothing of the last attempt written; run it again).
CONTENDED = 3
COMMAND_MODULES = (serve, seeding, catalog, groups, users, apikeys, sessions)


def build_parser() -> argparse.ArgumentParser:
    common = connection_options()
    parser = argparse.ArgumentParser(
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = Context(args)
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound  # noqa: PLC0415

    try:
        code: int = retry_conflicts(lambda: args.run(ctx, args))
    except CliError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except (Refused, SeedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Contended as error:
        print(f"error: {error}", file=sys.stderr)
        return CONTENDED
    except RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print(
            "error: no AWS credentials found (use --profile, or --endpoint-url for a local DynamoDB)", file=sys.stderr
        )
        return 1
    except ClientError as error:
        code_name = error.response.get("Error", {}).get("Code", "")
        if code_name == "ResourceNotFoundException":
            print(
                f"error: table {ctx.table!r} not found (deploy the stack, or `apply` with --endpoint-url)",
                file=sys.stderr,
            )
        else:
            print(f"error: DynamoDB refused the request: {code_name}", file=sys.stderr)
        return 1
    except ProfileNotFound:
        print(f"error: AWS profile {ctx.profile!r} not found in the AWS config files", file=sys.stderr)
        return 2
    except BotoCoreError as error:
        print(f"error: cannot reach DynamoDB: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `modelgate models list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":
    sys.exit(main())
