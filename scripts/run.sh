#!/usr/bin/env bash
# Sets everything up and runs paradym-webhooksd on its embedded defaults:
# gRPC on 0.0.0.0:50051, the in-memory log, and, unless PARADYM_WEBHOOK_SECRET
# or --secrets_file says otherwise, a secret generated once into
# ./data/webhook-secret. Extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/server/paradym-webhooksd "$@"
