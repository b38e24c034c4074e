// Adds ALLOW ACLs in one batch with Kafka's own Admin client (the API kafka-acls.sh uses), so the
// whole table costs one short JVM. Run by deploy/kafka_acls.py with the broker's jars:
//   java -cp <kafka jars> GrantAcls.java <bootstrap> <client.properties> < grants
// Each line of grants: RESOURCE_TYPE NAME PRINCIPAL OPERATION, e.g. TOPIC police.contacts.v1
// User:intake READ. Literal resource names only; any host. Creating an existing ACL is a no-op.

import java.io.BufferedReader;
import java.io.FileReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class GrantAcls {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        try (FileReader file = new FileReader(args[1])) {
            config.load(file);
        }
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        List<AclBinding> bindings = new ArrayList<>();
        BufferedReader input = new BufferedReader(new InputStreamReader(System.in));
        for (String line = input.readLine(); line != null; line = input.readLine()) {
            if (line.isBlank()) {
                continue;
            }
            String[] field = line.trim().split("\\s+");
            ResourceType type = ResourceType.fromString(field[0]);
            AclOperation operation = AclOperation.fromString(field[3]);
            if (field.length != 4 || type == ResourceType.UNKNOWN || operation == AclOperation.UNKNOWN) {
                throw new IllegalArgumentException("not a grant: " + line);
            }
            bindings.add(new AclBinding(
                new ResourcePattern(type, field[1], PatternType.LITERAL),
                new AccessControlEntry(field[2], "*", operation, AclPermissionType.ALLOW)));
        }
        try (Admin admin = Admin.create(config)) {
            admin.createAcls(bindings).all().get();
        }
        System.out.println("granted " + bindings.size() + " ACL entries");
    }
}
