package dev.bollard.daemon.network;

import java.util.List;

/**
 * What ADD gave the pod.
 *
 * @param ips           the pod's addresses without prefix length, IPv4 before IPv6; the first is the primary
 * @param interfaceName the interface inside the pod they are on
 * @param rawJson       the final result of the chain as the last plugin printed it
 */
public record PodNetworkResult(List<String> ips, String interfaceName, String rawJson) {
    public PodNetworkResult {
        ips = List.copyOf(ips);
    }

    public String primaryIp() {
        return ips.isEmpty() ? "" : ips.getFirst();
    }
}
