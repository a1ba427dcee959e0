#!/usr/bin/env bash
# Regenerates cases.json with botocore's SigV4 signer (pinned), in a throwaway venv.
# Run once by hand when adding cases; the tests only read cases.json.
set -euo pipefail
cd "$(dirname "$0")"
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q 'botocore==1.44.8'
"$venv/bin/python" generate.py > cases.json.new
mv cases.json.new cases.json
echo "wrote $(pwd)/cases.json"
