package dev.bollard.daemon.runtime;

import dev.bollard.daemon.store.AtomicFiles;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The node's pod CIDR(s) as kubelet last set them through UpdateRuntimeConfig; comma-separated for dual stack.
 * Kept on disk so that a restarted daemon knows them before kubelet says them again. The CNI setup reads them.
 */
public final class PodCidrs {

    private final Path file;
    private volatile List<String> cidrs;

    public PodCidrs(Path file) throws IOException {
        this.file = file;
        List<String> loaded;
        try {
            loaded = parse(Files.readString(file).strip());
        } catch (NoSuchFileException e) {
            loaded = List.of();
        } catch (IllegalArgumentException e) {
            throw new IOException(file + " holds an invalid pod CIDR: " + e.getMessage(), e);
        }
        this.cidrs = loaded;
    }

    public List<String> get() {
        return cidrs;
    }

    /** Validates and stores; an empty string clears. */
    public synchronized void set(String podCidr) throws IOException {
        List<String> parsed = parse(podCidr);
        if (parsed.equals(cidrs)) {
            return;
        }
        AtomicFiles.write(file, String.join(",", parsed).getBytes(StandardCharsets.UTF_8));
        cidrs = parsed;
    }

    /** @throws IllegalArgumentException naming the part that is not a CIDR */
    public static List<String> parse(String value) {
        var out = new ArrayList<String>();
        if (value.isBlank()) {
            return List.of();
        }
        for (String part : value.split(",")) {
            String cidr = part.strip();
            int slash = cidr.indexOf('/');
            if (slash < 0) {
                throw new IllegalArgumentException("\"" + cidr + "\" is not a CIDR (address/prefix)");
            }
            InetAddress address;
            try {
                address = InetAddress.ofLiteral(cidr.substring(0, slash));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("\"" + cidr + "\" does not start with an IP address");
            }
            int max = address.getAddress().length * 8;
            int prefix;
            try {
                prefix = Integer.parseInt(cidr.substring(slash + 1));
            } catch (NumberFormatException e) {
                prefix = -1;
            }
            if (prefix < 0 || prefix > max) {
                throw new IllegalArgumentException("\"" + cidr + "\" has a prefix length outside 0.." + max);
            }
            out.add(cidr);
        }
        if (out.size() > 2) {
            throw new IllegalArgumentException("at most two CIDRs (one per IP family), got " + out.size());
        }
        return List.copyOf(out);
    }
}
