#!/usr/bin/env bash
# Regenerates the real agent payload fixtures in this folder (python-v1-*.json, manifest.tsv).
# Installs the pinned New Relic Python agent packages from PyPI into a throwaway virtualenv
# (never committed), runs generate.py, and removes the virtualenv. The agent runs in serverless
# mode and never opens a network connection. Needs python3 (>= 3.8) with venv, and PyPI access.
set -euo pipefail

NEWRELIC_VERSION=14.1.0
NEWRELIC_LAMBDA_VERSION=1.0.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/nr-agent-fixtures.XXXXXX")"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
    "newrelic==$NEWRELIC_VERSION" "newrelic-lambda==$NEWRELIC_LAMBDA_VERSION"

# A neutral working directory and no config file: only the environment set in generate.py counts.
cd "$work"
env -u NEW_RELIC_CONFIG_FILE -u NEW_RELIC_ENVIRONMENT "$work/venv/bin/python" "$here/generate.py" "$here"
