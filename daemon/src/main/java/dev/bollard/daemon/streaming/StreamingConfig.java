package dev.bollard.daemon.streaming;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The {@code [streaming]} section: where the exec/attach/port-forward server listens and its limits.
 *
 * @param address               the listen address (loopback by default: kubelet on the same node connects)
 * @param port                  0 for a random free port
 * @param tlsCertFile           PEM certificate chain; with {@code tlsKeyFile}, the server speaks HTTPS
 * @param tlsKeyFile            PEM private key (PKCS#8)
 * @param idleTimeout           a streaming connection with no traffic either way for this long is closed
 * @param streamCreationTimeout how long a client has, after the upgrade, to open the streams its request needs
 * @param maxStreams            concurrent streaming sessions (upgraded connections); more are answered 503
 * @param tokenTtl              how long an Exec/Attach/PortForward URL stays usable before its first use
 */
public record StreamingConfig(String address, int port, Optional<Path> tlsCertFile, Optional<Path> tlsKeyFile,
                              Duration idleTimeout, Duration streamCreationTimeout, int maxStreams,
                              Duration tokenTtl) {

    public static final StreamingConfig DEFAULTS = new StreamingConfig("127.0.0.1", 0, Optional.empty(),
            Optional.empty(), Duration.ofHours(4), Duration.ofSeconds(30), 1000, Duration.ofMinutes(1));

    public StreamingConfig {
        if (tlsCertFile.isPresent() != tlsKeyFile.isPresent()) {
            throw new IllegalArgumentException("streaming: tls_cert_file and tls_key_file go together");
        }
    }

    public boolean tls() {
        return tlsCertFile.isPresent();
    }
}
