package dev.bollard.daemon.network;

import java.util.Locale;
import java.util.Objects;

/**
 * One hostPort → containerPort mapping, passed to plugins with the {@code portMappings} capability.
 *
 * @param protocol      tcp, udp or sctp, lower case
 * @param hostIp        the host address to bind; empty for all
 */
public record PortMapping(String protocol, int containerPort, int hostPort, String hostIp) {
    public PortMapping {
        protocol = Objects.requireNonNullElse(protocol, "tcp").toLowerCase(Locale.ROOT);
        if (protocol.isEmpty()) {
            protocol = "tcp";
        }
        if (!protocol.equals("tcp") && !protocol.equals("udp") && !protocol.equals("sctp")) {
            throw new IllegalArgumentException("port mapping protocol must be tcp, udp or sctp, not " + protocol);
        }
        if (containerPort < 1 || containerPort > 65535) {
            throw new IllegalArgumentException("container port out of range: " + containerPort);
        }
        if (hostPort < 0 || hostPort > 65535) {
            throw new IllegalArgumentException("host port out of range: " + hostPort);
        }
        hostIp = Objects.requireNonNullElse(hostIp, "");
    }
}
