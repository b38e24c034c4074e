#!/usr/bin/env bash
# One node of docker-compose.cluster.yml's three (apache/kafka image): broker and controller, the
# security of deploy/kafka_broker.py's secured broker (clients and brokers: SASL_SSL with
# SCRAM-SHA-512; controllers: mutual TLS, the broker certificate's CN kafka-broker a super user;
# StandardAuthorizer, deny what no ACL allows), replication factor 3, min.insync.replicas 2.
set -euo pipefail
: "${KAFKA_NODE_ID:?}" "${KAFKA_CLUSTER_ID:?}" "${KAFKA_ADMIN_USERNAME:?}" "${KAFKA_ADMIN_PASSWORD:?}"

umask 077  # the file holds the admin's password
config=/tmp/server.properties
scram="org.apache.kafka.common.security.scram.ScramLoginModule required"
cat >"$config" <<PROPERTIES
process.roles=broker,controller
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=1@kafka-1:9094,2@kafka-2:9094,3@kafka-3:9094
listeners=SASL_SSL://:9093,CONTROLLER://:9094
advertised.listeners=SASL_SSL://kafka-${KAFKA_NODE_ID}:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${scram} username="${KAFKA_ADMIN_USERNAME}" password="${KAFKA_ADMIN_PASSWORD}";
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=/run/secrets/kafka-broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/kafka-ca.pem
ssl.principal.mapping.rules=RULE:^.*CN=([^,]+).*$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:${KAFKA_ADMIN_USERNAME};User:kafka-broker
log.dirs=/var/lib/kafka/data
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
PROPERTIES

# SCRAM users go into the cluster's first metadata at format time (KIP-900), so no broker ever
# accepts an unauthenticated client to create them. A formatted node keeps its data (and users).
users=()
for pair in "${KAFKA_ADMIN_USERNAME}:${KAFKA_ADMIN_PASSWORD}" "intake:${INTAKE_KAFKA_PASSWORD:?}" \
  "notifier:${NOTIFIER_KAFKA_PASSWORD:?}" "casework:${CASEWORK_KAFKA_PASSWORD:?}" \
  "meeting_scheduler:${MEETINGS_KAFKA_PASSWORD:?}" "police-intake:${POLICE_INTAKE_KAFKA_PASSWORD:?}" \
  "operator:${OPERATOR_KAFKA_PASSWORD:?}"; do
  users+=(--add-scram "SCRAM-SHA-512=[name=${pair%%:*},password=${pair#*:}]")
done
# Its output lists the SCRAM records (salted keys): not shown.
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" \
  --config "$config" "${users[@]}" >/dev/null
exec /opt/kafka/bin/kafka-server-start.sh "$config"
