package dev.bollard.daemon.registry;

import dev.bollard.daemon.config.ConfigException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The PEM files registry configurations point at: certificates, and unencrypted private keys as PKCS#8
 * ({@code BEGIN PRIVATE KEY}), PKCS#1 RSA ({@code BEGIN RSA PRIVATE KEY}) or SEC1 EC ({@code BEGIN EC PRIVATE KEY}).
 * The last two are rewrapped as PKCS#8, the only encoding the JDK's key factories read.
 */
final class Pem {

    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*(.*?)-----END \\1-----", Pattern.DOTALL);

    private static final byte[] RSA_ENCRYPTION_OID = {0x2A, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xF7, 0x0D, 0x01, 0x01, 0x01};
    private static final byte[] EC_PUBLIC_KEY_OID = {0x2A, (byte) 0x86, 0x48, (byte) 0xCE, 0x3D, 0x02, 0x01};
    private static final int SEQUENCE = 0x30;
    private static final int INTEGER = 0x02;
    private static final int OCTET_STRING = 0x04;
    private static final int NULL = 0x05;
    private static final int OID = 0x06;
    private static final int CONTEXT_0 = 0xA0;

    private record Block(String label, byte[] der) {
    }

    private Pem() {
    }

    /** Every certificate in the file, in order. */
    static List<X509Certificate> certificates(Path file) throws ConfigException {
        var certs = new ArrayList<X509Certificate>();
        try {
            var factory = CertificateFactory.getInstance("X.509");
            for (Block block : blocks(file)) {
                if (block.label().equals("CERTIFICATE")) {
                    certs.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(block.der())));
                }
            }
        } catch (CertificateException e) {
            throw new ConfigException(file + ": not a valid certificate: " + e.getMessage());
        }
        if (certs.isEmpty()) {
            throw new ConfigException(file + ": no PEM certificate (BEGIN CERTIFICATE) found");
        }
        return List.copyOf(certs);
    }

    /** The first private key in the file. */
    static PrivateKey privateKey(Path file) throws ConfigException {
        for (Block block : blocks(file)) {
            switch (block.label()) {
                case "PRIVATE KEY" -> {
                    return pkcs8(file, block.der());
                }
                case "RSA PRIVATE KEY" -> {
                    return pkcs8(file, der(SEQUENCE, concat(der(INTEGER, new byte[]{0}),
                            der(SEQUENCE, concat(der(OID, RSA_ENCRYPTION_OID), der(NULL, new byte[0]))),
                            der(OCTET_STRING, block.der()))));
                }
                case "EC PRIVATE KEY" -> {
                    return pkcs8(file, der(SEQUENCE, concat(der(INTEGER, new byte[]{0}),
                            der(SEQUENCE, concat(der(OID, EC_PUBLIC_KEY_OID), sec1CurveOid(file, block.der()))),
                            der(OCTET_STRING, block.der()))));
                }
                case "ENCRYPTED PRIVATE KEY" -> throw new ConfigException(file
                        + ": encrypted private keys are not supported; decrypt it (openssl pkey -in key.pem -out plain.pem)");
                default -> {
                    // certificates, EC PARAMETERS and the like
                }
            }
        }
        throw new ConfigException(file + ": no private key found (expected BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY"
                + " or BEGIN EC PRIVATE KEY)");
    }

    private static List<Block> blocks(Path file) throws ConfigException {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + (e.getMessage() == null ? e : e.getMessage()));
        }
        var blocks = new ArrayList<Block>();
        Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            String body = m.group(2);
            if (body.contains("Proc-Type:") && body.contains("ENCRYPTED")) {
                throw new ConfigException(file + ": encrypted private keys are not supported; decrypt it"
                        + " (openssl pkey -in key.pem -out plain.pem)");
            }
            // RFC 7468 allows header lines before the base64 body; they hold nothing needed here.
            String base64 = body.lines().filter(line -> !line.contains(":")).reduce("", String::concat);
            try {
                blocks.add(new Block(m.group(1), Base64.getMimeDecoder().decode(base64)));
            } catch (IllegalArgumentException e) {
                throw new ConfigException(file + ": bad base64 in a PEM " + m.group(1) + " block");
            }
        }
        return blocks;
    }

    private static PrivateKey pkcs8(Path file, byte[] der) throws ConfigException {
        var spec = new PKCS8EncodedKeySpec(der);
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                // not this algorithm: try the next
            }
        }
        throw new ConfigException(file + ": unsupported or malformed private key (RSA, EC and EdDSA keys are supported)");
    }

    /** The curve OID in the optional {@code [0] parameters} of a SEC1 ECPrivateKey, as a DER OID. */
    private static byte[] sec1CurveOid(Path file, byte[] sec1) throws ConfigException {
        try {
            var outer = new DerReader(sec1);
            var body = new DerReader(outer.expect(SEQUENCE));
            body.expect(INTEGER);
            body.expect(OCTET_STRING);
            while (body.hasMore()) {
                int tag = body.peekTag();
                byte[] value = body.next();
                if (tag == CONTEXT_0) {
                    byte[] oid = new DerReader(value).expect(OID);
                    return der(OID, oid);
                }
            }
        } catch (IllegalArgumentException e) {
            throw new ConfigException(file + ": malformed EC private key: " + e.getMessage());
        }
        throw new ConfigException(file + ": EC private key without its curve; convert it to PKCS#8"
                + " (openssl pkcs8 -topk8 -nocrypt)");
    }

    private static byte[] der(int tag, byte[] value) {
        var out = new ByteArrayOutputStream();
        out.write(tag);
        int length = value.length;
        if (length < 0x80) {
            out.write(length);
        } else {
            int bytes = (32 - Integer.numberOfLeadingZeros(length) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(length >>> (8 * i));
            }
        }
        out.writeBytes(value);
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        var out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    /** Just enough DER to walk a SEC1 key: definite lengths, single-byte tags. */
    private static final class DerReader {
        private final byte[] data;
        private int position;

        DerReader(byte[] data) {
            this.data = data;
        }

        boolean hasMore() {
            return position < data.length;
        }

        int peekTag() {
            return data[position] & 0xFF;
        }

        byte[] expect(int tag) {
            if (!hasMore() || peekTag() != tag) {
                throw new IllegalArgumentException("expected DER tag 0x" + Integer.toHexString(tag));
            }
            return next();
        }

        byte[] next() {
            if (position + 2 > data.length) {
                throw new IllegalArgumentException("truncated");
            }
            position++;
            int length = data[position++] & 0xFF;
            if (length >= 0x80) {
                int bytes = length & 0x7F;
                if (bytes == 0 || bytes > 3 || position + bytes > data.length) {
                    throw new IllegalArgumentException("bad length");
                }
                length = 0;
                for (int i = 0; i < bytes; i++) {
                    length = (length << 8) | (data[position++] & 0xFF);
                }
            }
            if (position + length > data.length) {
                throw new IllegalArgumentException("truncated");
            }
            byte[] value = Arrays.copyOfRange(data, position, position + length);
            position += length;
            return value;
        }
    }
}
