#!/usr/bin/env bash
# Start or stop the Pub/Sub and Firestore emulators on free ports, for humans.
#   eval "$(scripts/emulators.sh start)"   # exports PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST
#   scripts/emulators.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || make -s venv >&2
exec .venv/bin/python -m tests.emulators "$@"
