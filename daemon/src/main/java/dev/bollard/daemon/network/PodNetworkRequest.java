package dev.bollard.daemon.network;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One pod's attachment to the CNI network.
 *
 * @param podId        the sandbox ID: CNI_CONTAINERID and the cache key
 * @param netns        the pinned network namespace (see {@link NetNs})
 * @param ifName       the interface inside the pod, usually eth0
 * @param extraArgs    added to CNI_ARGS after the K8S_* ones
 */
public record PodNetworkRequest(String podId, String podName, String podNamespace, String podUid, Path netns,
                                String ifName, List<PortMapping> portMappings, Map<String, String> extraArgs) {
    public PodNetworkRequest {
        Objects.requireNonNull(podId, "podId");
        if (!podId.matches("[A-Za-z0-9][A-Za-z0-9_.\\-]*")) {
            // the CNI spec's rule for a container ID; it also makes the ID safe as a file name
            throw new IllegalArgumentException("invalid CNI container ID \"" + podId + "\"");
        }
        ifName = ifName == null || ifName.isEmpty() ? "eth0" : ifName;
        if (ifName.length() > 15 || ifName.equals(".") || ifName.equals("..") || !ifName.matches("[^/:\\s]+")) {
            throw new IllegalArgumentException("invalid interface name \"" + ifName + "\"");
        }
        podName = Objects.requireNonNullElse(podName, "");
        podNamespace = Objects.requireNonNullElse(podNamespace, "");
        podUid = Objects.requireNonNullElse(podUid, "");
        portMappings = portMappings == null ? List.of() : List.copyOf(portMappings);
        extraArgs = extraArgs == null ? Map.of() : Map.copyOf(extraArgs);
    }
}
