package dev.bollard.daemon.registry;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * One place a repository can be fetched from: a mirror or the upstream registry itself, as resolved from the
 * per-host {@code hosts.toml} configuration (containerd's certs.d format). The pull tries endpoints in order.
 *
 * @param apiRoot      the distribution API root without a trailing slash, e.g. {@code http://127.0.0.1:5000/v2};
 *                     requests append {@code /<repository>/manifests/<reference>} or {@code /<repository>/blobs/<digest>}
 * @param mirror       false only for the upstream registry of the image's own domain
 * @param canPull      may serve blobs and manifests by digest
 * @param canResolve   may turn a tag into a digest
 * @param tls          trust and client-certificate settings for https endpoints
 * @param headers      extra HTTP headers to send to this endpoint
 * @param upstream     the upstream {@code server} of hosts.toml (or the default one), tried after the mirrors; it may
 *                     be on another host than the image's domain ({@code mirror} then too), but errors name it as
 *                     the upstream, so that a fault it serves is not blamed on a mirror
 */
public record RegistryEndpoint(URI apiRoot, boolean mirror, boolean canPull, boolean canResolve, Tls tls,
                               java.util.Map<String, List<String>> headers, boolean upstream) {

    /** An endpoint given by hand: the upstream exactly when it is no mirror. */
    public RegistryEndpoint(URI apiRoot, boolean mirror, boolean canPull, boolean canResolve, Tls tls,
                            java.util.Map<String, List<String>> headers) {
        this(apiRoot, mirror, canPull, canResolve, tls, headers, !mirror);
    }

    /**
     * @param caFiles     extra PEM CA certificates trusted beside the system store
     * @param skipVerify  no certificate or host-name verification at all (insecure; for test registries)
     * @param clientCerts PEM client certificate, with its key file when the key is not in the same file
     */
    public record Tls(List<Path> caFiles, boolean skipVerify, List<ClientCert> clientCerts) {
        public static final Tls DEFAULT = new Tls(List.of(), false, List.of());
    }

    public record ClientCert(Path certificate, Optional<Path> key) {
    }

    /** The upstream registry over plain defaults: https, both capabilities. */
    public static RegistryEndpoint upstream(URI apiRoot) {
        return new RegistryEndpoint(apiRoot, false, true, true, Tls.DEFAULT, java.util.Map.of(), true);
    }
}
