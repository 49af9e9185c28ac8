package dev.bollard.daemon.oci;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The node's hostname, the one place it is read: a pod without a hostname of its own gets it both in its
 * /etc/hostname and in its containers' HOSTNAME. The kernel's UTS name, as containerd takes it (os.Hostname), not a
 * name looked up in DNS, which could differ from it (a domain appended) or take a lookup to find.
 */
public final class NodeHostname {

    private static final Path KERNEL_HOSTNAME = Path.of("/proc/sys/kernel/hostname");

    private NodeHostname() {
    }

    /** Read each time: the node's hostname may change while the daemon runs. */
    public static String current() {
        try {
            String name = Files.readString(KERNEL_HOSTNAME).trim();
            return name.isEmpty() ? "localhost" : name;
        } catch (IOException e) {
            return "localhost";
        }
    }
}
