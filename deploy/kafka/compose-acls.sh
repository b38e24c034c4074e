#!/usr/bin/env bash
# docker-compose.cluster.yml's one-shot ACL step (apache/kafka image): each line of
# compose-acls.txt, written by `python -m deploy.k8s_manifests` from deploy/kafka_acls.py, is one
# kafka-acls.sh call: `PRINCIPAL OPERATIONS RESOURCE...` (operations comma-separated, resources
# `topic:NAME` or `group:NAME`). Adding an ACL that exists changes nothing, so a rerun is safe.
set -euo pipefail
: "${KAFKA_BOOTSTRAP_SERVERS:?}" "${KAFKA_ADMIN_USERNAME:?}" "${KAFKA_ADMIN_PASSWORD:?}"

umask 077
admin=/tmp/admin.properties
cat >"$admin" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${KAFKA_ADMIN_USERNAME}" password="${KAFKA_ADMIN_PASSWORD}";
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/kafka-ca.pem
PROPERTIES

while read -r principal operations resources; do
  case "$principal" in '' | '#'*) continue ;; esac
  arguments=(--allow-principal "User:${principal}")
  for operation in ${operations//,/ }; do arguments+=(--operation "$operation"); done
  for resource in $resources; do arguments+=("--${resource%%:*}" "${resource#*:}"); done
  /opt/kafka/bin/kafka-acls.sh --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" \
    --command-config "$admin" --add "${arguments[@]}" >/dev/null
  echo "granted ${principal}: ${operations} on ${resources}"
done </opt/safeguarding/compose-acls.txt
