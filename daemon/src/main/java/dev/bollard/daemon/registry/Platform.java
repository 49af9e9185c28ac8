package dev.bollard.daemon.registry;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * An image platform as the OCI index writes it. {@link #normalize()} maps the aliases Go and distributions use
 * (x86_64, aarch64, armhf) to GOARCH names, as containerd's platforms package does, so that matching compares like
 * with like.
 */
public record Platform(String os, String architecture, String variant) {

    public Platform {
        os = os == null ? "" : os;
        architecture = architecture == null ? "" : architecture;
        variant = variant == null ? "" : variant;
    }

    public static final Platform LINUX_AMD64 = new Platform("linux", "amd64", "");
    public static final Platform LINUX_ARM64 = new Platform("linux", "arm64", "");

    /** The platform of this JVM's node (always linux for Bollard). */
    public static Platform node() {
        return new Platform("linux", System.getProperty("os.arch"), "").normalize();
    }

    public Platform normalize() {
        String o = os.toLowerCase(Locale.ROOT);
        String a = architecture.toLowerCase(Locale.ROOT);
        String v = variant.toLowerCase(Locale.ROOT);
        switch (a) {
            case "x86_64", "x86-64", "amd64" -> {
                a = "amd64";
                if (v.equals("v1")) {
                    v = "";
                }
            }
            case "aarch64", "arm64" -> {
                a = "arm64";
                if (v.equals("8") || v.equals("v8")) {
                    v = "";
                }
            }
            case "armhf" -> {
                a = "arm";
                v = "v7";
            }
            case "armel" -> {
                a = "arm";
                v = "v6";
            }
            case "arm" -> {
                if (v.isEmpty() || v.equals("7")) {
                    v = "v7";
                } else if (v.matches("[5-8]")) {
                    v = "v" + v;
                }
            }
            case "i386", "i486", "i586", "i686", "x86" -> a = "386";
            default -> {
            }
        }
        return new Platform(o, a, v);
    }

    /**
     * The variants this (node) platform runs, best first: amd64 v3 runs v3, v2 and v1; arm v7 runs v7, v6, v5.
     */
    List<String> compatibleVariants() {
        var p = normalize();
        var out = new ArrayList<String>();
        switch (p.architecture) {
            case "amd64" -> {
                int level = p.variant.isEmpty() ? 1 : Integer.parseInt(p.variant.substring(1));
                for (int i = level; i >= 2; i--) {
                    out.add("v" + i);
                }
                out.add("");
            }
            case "arm" -> {
                int level = Integer.parseInt(p.variant.substring(1));
                for (int i = level; i >= 5; i--) {
                    out.add("v" + i);
                }
            }
            default -> {
                out.add(p.variant);
                if (!p.variant.isEmpty()) {
                    out.add("");
                }
            }
        }
        return out;
    }

    /**
     * How well an image of platform {@code candidate} fits this node platform: 0 is the best fit, larger is worse,
     * -1 means it cannot run here.
     */
    public int rank(Platform candidate) {
        var node = normalize();
        var c = candidate.normalize();
        if (!node.os.equals(c.os) || !node.architecture.equals(c.architecture)) {
            return -1;
        }
        List<String> variants;
        try {
            variants = compatibleVariants();
        } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
            variants = List.of(node.variant);
        }
        return variants.indexOf(c.variant);
    }

    @Override
    public String toString() {
        return os + "/" + architecture + (variant.isEmpty() ? "" : "/" + variant);
    }
}
