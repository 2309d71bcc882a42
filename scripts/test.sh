#!/usr/bin/env bash
# Install firmseal with its test tools into .venv, install the system tools the tests use
# as independent verifiers (and SoftHSM2, the PKCS#11 token of the pkcs11 backend tests),
# then run ruff, mypy and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v objcopy >/dev/null || missing+=(binutils)
command -v cc >/dev/null || missing+=(gcc)
command -v softhsm2-util >/dev/null || missing+=(softhsm2)
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
