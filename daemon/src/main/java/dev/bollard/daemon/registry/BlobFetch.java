package dev.bollard.daemon.registry;

/**
 * The outcome of a verified blob fetch.
 *
 * @param endpoint the endpoint that delivered the last byte
 * @param size     the blob's size, verified
 * @param resumes  how many times the transfer continued with a Range request after a broken connection
 */
public record BlobFetch(RegistryEndpoint endpoint, long size, int resumes) {
}
