#!/usr/bin/env bash
# Write `.env` for docker-compose with fresh secrets (Redis's password, Label Studio's admin
# password and API token), owner-only; an existing `.env` is kept as it is.
#   bash scripts/compose-env.sh [path]
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_FILE=${1:-.env}
if [ -e "$ENV_FILE" ]; then
  echo "$ENV_FILE exists: kept"
  exit 0
fi
secret() { python3 -c "import secrets; print(secrets.token_hex($1))"; }
umask 077
cat > "$ENV_FILE" <<END
REDIS_PASSWORD=$(secret 24)
LABEL_STUDIO_USERNAME=admin@example.com
LABEL_STUDIO_PASSWORD=$(secret 12)
LABEL_STUDIO_API_KEY=$(secret 20)
END
echo "$ENV_FILE written (secrets for Redis and Label Studio)"
