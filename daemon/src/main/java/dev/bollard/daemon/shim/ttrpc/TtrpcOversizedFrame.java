package dev.bollard.daemon.shim.ttrpc;

/**
 * Emitted by {@link TtrpcFrameDecoder} in place of a frame whose data length exceeds
 * {@link TtrpcFrame#MAX_DATA_LENGTH}. The decoder skips the data as it arrives (never buffering it), so the
 * connection stays usable, as in the reference implementation: the server answers such a request with
 * RESOURCE_EXHAUSTED on its stream id, the client fails the call waiting on that stream id.
 *
 * @param length the announced data length, unsigned
 */
public record TtrpcOversizedFrame(int streamId, int type, int flags, long length) {

    /** The status message the reference implementation uses for this case. */
    public String message() {
        return "message length " + length + " exceed maximum message size of " + TtrpcFrame.MAX_DATA_LENGTH;
    }
}
