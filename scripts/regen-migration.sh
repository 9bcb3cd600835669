#!/usr/bin/env bash
# Until the first release, the schema is one initial migration regenerated from the models.
# Autogenerates against a temporary PostgreSQL database.
set -euo pipefail
cd "$(dirname "$0")/.."
DB="scrm_autogen_$$"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" postgres
trap 'psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" postgres' EXIT
rm -f migrations/versions/*.py
.venv/bin/alembic -x url="postgresql+psycopg://postgres@127.0.0.1:5432/$DB" revision --autogenerate \
  --rev-id 0001 -m "initial schema" >/dev/null 2>&1
.venv/bin/python scripts/migration_guards.py migrations/versions/*_0001_*.py

echo "regenerated migrations/versions/"; ls migrations/versions
