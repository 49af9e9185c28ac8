package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.ContainerConfig;
import dev.bollard.api.cri.v1.PodSandboxConfig;

import java.nio.charset.StandardCharsets;

/**
 * Lengths of the names kubelet passes, bounded by what Kubernetes itself allows, so that an absurd value is
 * refused up front (INVALID_ARGUMENT naming the field) instead of failing deep inside (a CNI plugin's exec with
 * E2BIG, a file name too long). Only lengths Kubernetes could never send are refused; the characters are not
 * checked (crictl and tests use names an API server would refuse, harmlessly).
 */
final class MetadataLimits {

    /** A DNS subdomain (RFC 1123): pod names. */
    static final int DNS_SUBDOMAIN = 253;
    /** A DNS label (RFC 1123): namespaces and container names. */
    static final int DNS_LABEL = 63;
    /**
     * Pod UIDs are 36-character UUIDs from the API server or 32 hex digits for static pods; a subdomain's length
     * is a generous bound.
     */
    static final int UID = 253;

    private MetadataLimits() {
    }

    static void check(PodSandboxConfig config) {
        var m = config.getMetadata();
        atMost("config.metadata.name", m.getName(), DNS_SUBDOMAIN, "a pod name is a DNS subdomain");
        atMost("config.metadata.namespace", m.getNamespace(), DNS_LABEL, "a namespace is a DNS label");
        atMost("config.metadata.uid", m.getUid(), UID, "a pod UID is a UUID");
    }

    static void check(ContainerConfig config) {
        atMost("config.metadata.name", config.getMetadata().getName(), DNS_LABEL, "a container name is a DNS label");
    }

    private static void atMost(String field, String value, int max, String why) {
        int bytes = value.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > max) {
            throw new IllegalArgumentException(field + " is " + bytes + " bytes long; at most " + max + " (" + why
                    + " in Kubernetes)");
        }
    }
}
