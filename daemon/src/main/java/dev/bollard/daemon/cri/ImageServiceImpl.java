package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.ImageServiceGrpc;

/**
 * runtime.v1.ImageService. Every RPC answers UNIMPLEMENTED with its full method name (gRPC's default) until the
 * image issue lands; the service is registered now so that clients see the right code rather than a missing service.
 */
public final class ImageServiceImpl extends ImageServiceGrpc.ImageServiceImplBase {
}
