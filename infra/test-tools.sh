# Tools the test suite needs beyond pip: sourced by infra/dev test. Each installs once, into .cache/ or .venv.
# shellcheck shell=bash

ensure_test_tools() {
  :
}
