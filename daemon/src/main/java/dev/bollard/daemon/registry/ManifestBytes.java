package dev.bollard.daemon.registry;

import dev.bollard.daemon.content.Digest;

/**
 * A manifest or index exactly as the registry served it, verified against its digest. The bytes must be stored
 * unchanged: any re-serialisation changes the digest.
 *
 * @param endpoint where it came from
 */
public record ManifestBytes(Digest digest, String mediaType, byte[] bytes, RegistryEndpoint endpoint) {

    public Descriptor descriptor() {
        return new Descriptor(mediaType, digest, bytes.length);
    }
}
