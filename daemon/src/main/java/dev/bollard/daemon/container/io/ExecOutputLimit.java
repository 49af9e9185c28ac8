package dev.bollard.daemon.container.io;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Fits ExecSync's two streams into one gRPC message kubelet accepts: kubelet reads CRI responses of at most
 * 16 MiB, and each stream alone may be captured up to 16 MiB, so together they can be twice that and the whole
 * response would be refused. Each stream is sure of half the budget and gets what the other leaves; a cut stream
 * ends with a marker line saying so, so a truncated probe message or {@code bollard exec -s} output is not taken
 * for the command's whole output.
 */
public final class ExecOutputLimit {

    /** kubelet's maximum CRI message size. */
    public static final int KUBELET_MAX_MESSAGE_BYTES = 16 << 20;
    /** Room for the response's protobuf framing (tags, lengths, exit code). */
    static final int FRAMING_BYTES = 1024;

    public record Fitted(byte[] stdout, byte[] stderr) {
    }

    private ExecOutputLimit() {
    }

    /** Both streams within {@link #KUBELET_MAX_MESSAGE_BYTES} together, framing included. */
    public static Fitted fit(byte[] stdout, byte[] stderr) {
        return fit(stdout, stderr, KUBELET_MAX_MESSAGE_BYTES - FRAMING_BYTES);
    }

    /** Both streams within {@code budget} bytes together, markers included. */
    static Fitted fit(byte[] stdout, byte[] stderr, int budget) {
        if ((long) stdout.length + stderr.length <= budget) {
            return new Fitted(stdout, stderr);
        }
        int half = budget / 2;
        int outShare = Math.min(stdout.length, Math.max(half, budget - stderr.length));
        int errShare = budget - outShare;
        return new Fitted(cut(stdout, outShare), cut(stderr, errShare));
    }

    /** {@code data} within {@code share} bytes, its end replaced by a marker when it does not fit. */
    private static byte[] cut(byte[] data, int share) {
        if (data.length <= share) {
            return data;
        }
        byte[] marker = marker(data.length).getBytes(StandardCharsets.UTF_8);
        int keep = Math.max(0, share - marker.length);
        byte[] out = Arrays.copyOf(data, keep + Math.min(marker.length, share));
        System.arraycopy(marker, 0, out, keep, Math.min(marker.length, share));
        return out;
    }

    static String marker(int originalLength) {
        return "\n[output truncated: " + originalLength + " bytes or more, over kubelet's 16 MiB message limit]\n";
    }
}
