package dev.bollard.daemon.registry;

import java.nio.channels.SeekableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.security.MessageDigest;
import java.util.Optional;
import java.util.function.LongConsumer;

/**
 * Where {@link RegistryClient#fetchBlob} writes a blob. The channel receives bytes {@code offset..size-1} in order.
 * To continue a blob whose first {@code offset} bytes are already stored (e.g. after a daemon restart), pass a
 * hasher that has digested exactly those bytes. A {@link SeekableByteChannel} can also be rewound, which lets the
 * client start over from another endpoint after a digest mismatch.
 *
 * @param progress called with the total bytes held so far (offset included) after each write
 */
public record BlobTarget(WritableByteChannel channel, long offset, Optional<MessageDigest> prefixHash,
                         LongConsumer progress) {

    public BlobTarget {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset);
        }
        if (offset > 0 && prefixHash.isEmpty()) {
            throw new IllegalArgumentException("resuming at " + offset + " needs the hash of the stored prefix");
        }
    }

    public static BlobTarget of(WritableByteChannel channel) {
        return new BlobTarget(channel, 0, Optional.empty(), n -> {
        });
    }

    public static BlobTarget resume(WritableByteChannel channel, long offset, MessageDigest prefixHash) {
        return new BlobTarget(channel, offset, Optional.of(prefixHash), n -> {
        });
    }

    public BlobTarget withProgress(LongConsumer progress) {
        return new BlobTarget(channel, offset, prefixHash, progress);
    }
}
