#!/bin/sh
# One-shot job (temporalio/admin-tools): create Temporal's two PostgreSQL databases and bring
# their schemas to the version the pinned server expects. This is the part of the deprecated
# auto-setup image a production deployment still needs, run as its own step.
#
# Safe to re-run: `create` fails harmlessly when the database exists, `setup-schema -v 0.0` skips
# when a newer version is recorded, and `update-schema` applies only the missing versions (which
# is also how a server upgrade migrates: pin newer images, then `docker compose up`).
#
# Connection settings come from the environment, read by temporal-sql-tool itself:
# SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD.
set -eu

: "${SQL_HOST:?SQL_HOST is required}"
: "${SQL_PORT:=5432}"
: "${TEMPORAL_DB:=temporal}"
: "${TEMPORAL_VISIBILITY_DB:=temporal_visibility}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "waiting for PostgreSQL at ${SQL_HOST}:${SQL_PORT}"
attempts=0
until nc -z "${SQL_HOST}" "${SQL_PORT}"; do
    attempts=$((attempts + 1))
    if [ "${attempts}" -ge 60 ]; then
        echo "PostgreSQL did not come up" >&2
        exit 1
    fi
    sleep 1
done

migrate() {
    database=$1
    versioned=$2
    temporal-sql-tool --db "${database}" create \
        || echo "database ${database} not created (it probably exists already)"
    temporal-sql-tool --db "${database}" setup-schema -v 0.0
    temporal-sql-tool --db "${database}" update-schema -d "${SCHEMA_DIR}/${versioned}/versioned"
}

migrate "${TEMPORAL_DB}" temporal
migrate "${TEMPORAL_VISIBILITY_DB}" visibility
echo "Temporal schemas are up to date"
