package dev.bollard.daemon.content;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A content digest as the OCI image spec writes it: {@code algorithm:encoded}. Only sha256 and sha512 are accepted,
 * in their canonical lower-case hex form, so that one blob has exactly one name.
 */
public record Digest(String algorithm, String hex) {

    private static final Pattern SHA256 = Pattern.compile("[a-f0-9]{64}");
    private static final Pattern SHA512 = Pattern.compile("[a-f0-9]{128}");

    public Digest {
        switch (algorithm) {
            case "sha256" -> require(SHA256, algorithm, hex);
            case "sha512" -> require(SHA512, algorithm, hex);
            default -> throw new IllegalArgumentException("unsupported digest algorithm \"" + algorithm
                    + "\" (sha256 and sha512 are supported)");
        }
    }

    private static void require(Pattern p, String algorithm, String hex) {
        if (!p.matcher(hex).matches()) {
            throw new IllegalArgumentException("invalid " + algorithm + " digest \"" + algorithm + ":" + hex + "\"");
        }
    }

    /** @throws IllegalArgumentException naming the bad digest */
    public static Digest parse(String s) {
        int colon = s.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("invalid digest \"" + s + "\": expected algorithm:hex");
        }
        return new Digest(s.substring(0, colon), s.substring(colon + 1));
    }

    public static Digest sha256(byte[] content) {
        return new Digest("sha256", HexFormat.of().formatHex(messageDigest("sha256").digest(content)));
    }

    /** A fresh hasher for this digest's algorithm. */
    public MessageDigest newHasher() {
        return messageDigest(algorithm);
    }

    /** Whether a finished hasher's output is this digest. */
    public boolean matches(byte[] hashed) {
        return HexFormat.of().formatHex(hashed).equals(hex);
    }

    public static MessageDigest messageDigest(String algorithm) {
        MessageDigest prototype = algorithm.equals("sha256") ? Prototypes.SHA_256 : Prototypes.SHA_512;
        try {
            return (MessageDigest) prototype.clone();
        } catch (CloneNotSupportedException e) {
            return newInstance(prototype.getAlgorithm());
        }
    }

    /**
     * One hasher of each algorithm, never used, to clone: {@code getInstance} searches the security providers
     * at every call (a restart's recovery checks a checksum per record, hundreds at once).
     */
    private static final class Prototypes {
        static final MessageDigest SHA_256 = newInstance("SHA-256");
        static final MessageDigest SHA_512 = newInstance("SHA-512");
    }

    private static MessageDigest newInstance(String algorithm) {
        try {
            return MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return algorithm + ":" + hex;
    }
}
