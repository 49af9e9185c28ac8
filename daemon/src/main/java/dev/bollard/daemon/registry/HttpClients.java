package dev.bollard.daemon.registry;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.registry.RegistryEndpoint.ClientCert;
import dev.bollard.daemon.registry.RegistryEndpoint.Tls;

import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.net.Socket;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One {@link HttpClient} per distinct {@link Tls} setting, built on first use and kept until {@link #close()}.
 * Certificate files are read when the client is built and rebuilt when one of them changes (size or modification
 * time), so a renewed CA or client certificate applies to the next pull, as an edited hosts.toml does.
 *
 * <p>Trust is the JDK's system trust store plus the endpoint's extra PEM CAs. {@code skip_verify} installs a trust
 * manager that checks neither the chain nor the host name: because it is an {@link X509ExtendedTrustManager}, JSSE
 * does not wrap it with its own host-name check, so this does not need the process-wide system property
 * {@code jdk.internal.httpclient.disableHostnameVerification} and does not weaken any other client.
 *
 * <p>Clients speak HTTP/1.1 and do not follow redirects: {@link RegistryClient} follows them itself, dropping the
 * credentials and the endpoint's headers when a blob redirect leaves the registry's host.
 * Registries answer blob GETs with redirects to other hosts (object storage, CDNs, often pre-signed URLs). On such a
 * cross-origin redirect the JDK drops {@code Authorization} but re-sends every other request header (so the
 * hosts.toml {@code header} entries travel to the storage host too); a registry whose storage host needs different
 * headers, or an https-to-http redirect, needs the pull to follow redirects by hand.
 */
public final class HttpClients implements AutoCloseable {

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);
    /** In-memory key store only; the password protects nothing on disk. */
    private static final char[] KEY_PASSWORD = "bollard".toCharArray();

    /** A client and the state of the files it was built from. */
    private record Built(List<String> fileStamps, HttpClient client) {
    }

    private final Map<Tls, Built> clients = new ConcurrentHashMap<>();

    /** The client for endpoints with these TLS settings. */
    public HttpClient clientFor(Tls tls) throws ConfigException {
        List<String> stamps = fileStamps(tls);
        Built built = clients.get(tls);
        if (built != null && built.fileStamps().equals(stamps)) {
            return built.client();
        }
        synchronized (this) {
            built = clients.get(tls);
            if (built == null || !built.fileStamps().equals(stamps)) {
                // A replaced client is not shut down: pulls may still be using it; it goes when they let go.
                built = new Built(stamps, HttpClient.newBuilder()
                        .sslContext(sslContext(tls))
                        .version(HttpClient.Version.HTTP_1_1)
                        .followRedirects(HttpClient.Redirect.NEVER)
                        .connectTimeout(CONNECT_TIMEOUT)
                        .build());
                clients.put(tls, built);
            }
            return built.client();
        }
    }

    private static List<String> fileStamps(Tls tls) {
        var files = new ArrayList<>(tls.caFiles());
        for (ClientCert cert : tls.clientCerts()) {
            files.add(cert.certificate());
            cert.key().ifPresent(files::add);
        }
        var stamps = new ArrayList<String>();
        for (Path file : files) {
            try {
                var attributes = Files.readAttributes(file, BasicFileAttributes.class);
                stamps.add(attributes.size() + "@" + attributes.lastModifiedTime());
            } catch (IOException e) {
                stamps.add("unreadable");
            }
        }
        return stamps;
    }

    /** The TLS context for {@code tls}: trust as configured, plus the client certificates if any. */
    public static SSLContext sslContext(Tls tls) throws ConfigException {
        try {
            TrustManager trust = tls.skipVerify() ? new TrustEverything() : trustManager(tls.caFiles());
            var context = SSLContext.getInstance("TLS");
            context.init(keyManagers(tls.clientCerts()), new TrustManager[]{trust}, null);
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw new ConfigException("cannot set up TLS " + describe(tls) + ": " + e.getMessage());
        }
    }

    private static X509TrustManager trustManager(List<Path> caFiles) throws GeneralSecurityException, IOException,
            ConfigException {
        var system = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        system.init((KeyStore) null);
        if (caFiles.isEmpty()) {
            return x509(system.getTrustManagers());
        }
        // One store holding the system anchors and the extra CAs, so one standard PKIX trust manager (with its
        // host-name check) decides.
        var store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        int n = 0;
        for (X509Certificate anchor : x509(system.getTrustManagers()).getAcceptedIssuers()) {
            store.setCertificateEntry("system-" + n++, anchor);
        }
        for (Path file : caFiles) {
            for (X509Certificate ca : Pem.certificates(file)) {
                store.setCertificateEntry("extra-" + n++, ca);
            }
        }
        var factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);
        return x509(factory.getTrustManagers());
    }

    private static KeyManager[] keyManagers(List<ClientCert> clientCerts) throws GeneralSecurityException,
            IOException, ConfigException {
        if (clientCerts.isEmpty()) {
            return null;
        }
        var store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        int n = 0;
        for (ClientCert cert : clientCerts) {
            List<X509Certificate> chain = Pem.certificates(cert.certificate());
            Path keyFile = cert.key().orElse(cert.certificate());
            PrivateKey key = Pem.privateKey(keyFile);
            if (!key.getAlgorithm().equals(chain.getFirst().getPublicKey().getAlgorithm())) {
                throw new ConfigException(keyFile + ": the private key is " + key.getAlgorithm()
                        + " but the certificate in " + cert.certificate() + " is "
                        + chain.getFirst().getPublicKey().getAlgorithm());
            }
            store.setKeyEntry("client-" + n++, key, KEY_PASSWORD, chain.toArray(X509Certificate[]::new));
        }
        // PKIX (not SunX509) picks among several client certificates by the issuers the server asks for.
        var factory = KeyManagerFactory.getInstance("PKIX");
        factory.init(store, KEY_PASSWORD);
        return factory.getKeyManagers();
    }

    private static X509TrustManager x509(TrustManager[] managers) {
        for (TrustManager manager : managers) {
            if (manager instanceof X509TrustManager x509) {
                return x509;
            }
        }
        throw new IllegalStateException("no X.509 trust manager in the JDK");
    }

    private static String describe(Tls tls) {
        var parts = new ArrayList<String>();
        tls.caFiles().forEach(f -> parts.add("ca " + f));
        tls.clientCerts().forEach(c -> parts.add("client " + c.certificate()));
        return parts.isEmpty() ? "with the system trust store" : "with " + String.join(", ", parts);
    }

    /** Closes every client built so far. */
    @Override
    public void close() {
        clients.values().forEach(built -> built.client().shutdownNow());
        clients.clear();
    }

    /**
     * skip_verify: accepts any server certificate for any host name. Extending X509ExtendedTrustManager is what keeps
     * JSSE from adding its own identity check around it.
     */
    private static final class TrustEverything extends X509ExtendedTrustManager {
        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
            throw new UnsupportedOperationException("client-side trust manager");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
            throw new UnsupportedOperationException("client-side trust manager");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
            throw new UnsupportedOperationException("client-side trust manager");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
