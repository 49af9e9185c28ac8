package dev.bollard.daemon;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** Bollard's own version, stamped into the jar at build time. */
public final class BollardVersion {

    public static final String RUNTIME_NAME = "bollard";
    /** The CRI's own API version string, as containerd and CRI-O report it. */
    public static final String CRI_API_VERSION = "v1";
    /** What kubelet's runtime API "version" field has always carried. */
    public static final String KUBELET_API_VERSION = "0.1.0";

    private static final String VERSION = load();

    private BollardVersion() {
    }

    public static String version() {
        return VERSION;
    }

    private static String load() {
        try (InputStream in = BollardVersion.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return "unknown";
            }
            var p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
