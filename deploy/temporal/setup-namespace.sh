#!/bin/sh
# One-shot job (temporalio/admin-tools): create the namespace the service uses and register its
# custom search attributes (docs/operating.md#temporal-web-ui). The API and the worker register missing attributes at
# start-up too; doing it here as well means the Web UI filters work before either has started.
#
# Safe to re-run: existing namespaces and attributes are left as they are.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${TEMPORAL_NAMESPACE_RETENTION:=720h}"

# The official samples resolve the server to IPv4 first: the CLI may otherwise try IPv6 only.
host=${TEMPORAL_ADDRESS%:*}
port=${TEMPORAL_ADDRESS##*:}
ip=$(getent ahosts "${host}" | awk '/STREAM/ { print $1; exit }')
address="${ip:-${host}}:${port}"

echo "waiting for the Temporal server at ${TEMPORAL_ADDRESS} (${address})"
attempts=0
until temporal operator cluster health --address "${address}" | grep -q SERVING; do
    attempts=$((attempts + 1))
    if [ "${attempts}" -ge 60 ]; then
        echo "the Temporal server did not become healthy" >&2
        exit 1
    fi
    sleep 2
done

if temporal operator namespace describe --address "${address}" \
    --namespace "${TEMPORAL_NAMESPACE}" >/dev/null 2>&1; then
    echo "namespace ${TEMPORAL_NAMESPACE} exists"
else
    temporal operator namespace create --address "${address}" \
        --namespace "${TEMPORAL_NAMESPACE}" --retention "${TEMPORAL_NAMESPACE_RETENTION}"
fi

# A new namespace reaches the server's namespace cache after a few seconds.
attempts=0
until existing=$(temporal operator search-attribute list --address "${address}" \
    --namespace "${TEMPORAL_NAMESPACE}"); do
    attempts=$((attempts + 1))
    if [ "${attempts}" -ge 30 ]; then
        echo "namespace ${TEMPORAL_NAMESPACE} is not usable" >&2
        exit 1
    fi
    sleep 2
done

# Keep in step with workflows/names.py. SQL visibility offers three Datetime attributes per
# namespace, exactly what the service needs.
for attribute in \
    AccountId:Keyword \
    SessionState:Keyword \
    ReminderDueAt:Datetime \
    WindowClosesAt:Datetime \
    LastCustomerMessageAt:Datetime; do
    name=${attribute%%:*}
    type=${attribute##*:}
    if printf '%s\n' "${existing}" | grep -qw "${name}"; then
        echo "search attribute ${name} exists"
    else
        temporal operator search-attribute create --address "${address}" \
            --namespace "${TEMPORAL_NAMESPACE}" --name "${name}" --type "${type}"
    fi
done
echo "namespace ${TEMPORAL_NAMESPACE} is ready"
