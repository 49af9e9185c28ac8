package dev.bollard.daemon.network;

import java.util.Optional;

/**
 * Whether pods can get a network, in the shape of a CRI RuntimeCondition.
 *
 * @param reason      a short CamelCase cause when not ready (e.g. NoNetworkConfig, PluginMissing), empty when ready
 * @param message     the details, naming the file, network or plugin concerned
 * @param networkName the network that would be (is) used
 */
public record NetworkStatus(boolean ready, String reason, String message, Optional<String> networkName) {
    static NetworkStatus ok(String network, String message) {
        return new NetworkStatus(true, "", message, Optional.of(network));
    }

    static NetworkStatus notReady(String reason, String message, Optional<String> network) {
        return new NetworkStatus(false, reason, message, network);
    }
}
