package dev.bollard.daemon.streaming;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The remote-command subprotocol versions Kubernetes clients negotiate (client-go's remotecommand and kubelet's
 * streaming server). v1 and v2 carry errors as text on the error stream, v3 adds the resize stream, v4 reports the
 * exit code as a JSON metav1.Status, v5 adds (on WebSocket) the close signal that half-closes stdin.
 */
public enum RemoteCommandProtocol {
    V5("v5.channel.k8s.io", 5), V4("v4.channel.k8s.io", 4), V3("v3.channel.k8s.io", 3),
    V2("v2.channel.k8s.io", 2), V1("channel.k8s.io", 1);

    public static final String PORT_FORWARD = "portforward.k8s.io";

    private final String wireName;
    private final int version;

    RemoteCommandProtocol(String wireName, int version) {
        this.wireName = wireName;
        this.version = version;
    }

    public String wireName() {
        return wireName;
    }

    public boolean jsonStatus() {
        return version >= 4;
    }

    public boolean resize() {
        return version >= 3;
    }

    /** In the server's order of preference. */
    public static List<String> spdyNames() {
        return Arrays.stream(values()).map(RemoteCommandProtocol::wireName).toList();
    }

    public static Optional<RemoteCommandProtocol> byWireName(String name) {
        return Arrays.stream(values()).filter(p -> p.wireName.equals(name)).findFirst();
    }

    /**
     * The first protocol in the client's list that the server speaks (client preference, as Kubernetes'
     * httpstream negotiation does); empty when none is shared.
     */
    public static Optional<String> negotiate(List<String> clientProtocols, List<String> serverProtocols) {
        for (String c : clientProtocols) {
            if (serverProtocols.contains(c)) {
                return Optional.of(c);
            }
        }
        return Optional.empty();
    }
}
