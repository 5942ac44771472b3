#!/usr/bin/env bash
# Installs what is missing and builds (scripts/setup.sh), then runs
# paradym-webhooksd from the repository root on its defaults: webhooks over
# HTTP on 0.0.0.0:8080 (POST /webhook or /webhooks/{endpoint}), gRPC on
# 0.0.0.0:50051, every accepted event committed and fsynced to the SQLite
# store ./data/events.db (kept 7 days), and, unless PARADYM_WEBHOOK_SECRET or
# --secrets_file says otherwise, a secret generated once into
# ./data/webhook-secret. Extra arguments go to the server, e.g.
# `scripts/run.sh --store=memory` for a throwaway in-memory log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/server/paradym-webhooksd "$@"
