package dev.bollard.daemon.admin;

import dev.bollard.api.admin.v1.ExportRequest;
import dev.bollard.api.admin.v1.ExportResponse;
import dev.bollard.api.admin.v1.ImagesGrpc;
import dev.bollard.api.admin.v1.ImportRequest;
import dev.bollard.api.admin.v1.ImportResponse;
import dev.bollard.api.admin.v1.ImportedImage;
import dev.bollard.api.admin.v1.PullProgress;
import dev.bollard.api.admin.v1.PullRequest;
import dev.bollard.daemon.cri.ImageRpcs;
import dev.bollard.daemon.registry.Credentials;
import dev.bollard.daemon.registry.Descriptor;
import dev.bollard.daemon.registry.RegistryException;
import dev.bollard.daemon.cri.Calls;
import dev.bollard.daemon.image.ImageManager;
import io.grpc.stub.StreamObserver;

import java.nio.file.Path;

/** bollard.v1.Images: import and export of image archives on the daemon's node, for nodes without a registry. */
public final class ImagesAdminService extends ImagesGrpc.ImagesImplBase {

    private final ImageManager images;

    public ImagesAdminService(ImageManager images) {
        this.images = images;
    }

    private static Path absolute(String field, String path) {
        if (path.isEmpty() || !path.startsWith("/")) {
            throw new IllegalArgumentException(field + " must be an absolute path on the daemon's node, got \"" + path + "\"");
        }
        return Path.of(path);
    }

    @Override
    public void import_(ImportRequest request, StreamObserver<ImportResponse> observer) {
        Calls.unary(observer, () -> {
            var response = ImportResponse.newBuilder();
            images.awaitStartImports(); // the pause image first, as for pulls
            for (var r : images.importArchive(absolute("path", request.getPath()), request.getBaseName())) {
                response.addImages(ImportedImage.newBuilder().setId(r.id()).addAllRepoTags(r.repoTags()));
            }
            return response.build();
        });
    }

    /** Sends per-layer progress: every phase change, and download progress at most every 200 ms per layer. */
    @Override
    public void pull(PullRequest request, StreamObserver<PullProgress> observer) {
        Calls.stream(observer, () -> {
            if (request.getImage().isEmpty()) {
                throw new IllegalArgumentException("image must name the image to pull");
            }
            var lastSent = new java.util.concurrent.ConcurrentHashMap<String, Long>();
            var lastPhase = new java.util.concurrent.ConcurrentHashMap<String, ImageManager.PullListener.Phase>();
            ImageManager.PullListener listener = new ImageManager.PullListener() {
                @Override
                public void layer(Descriptor layer, Phase phase, long done) {
                    String key = layer.digest().toString();
                    long now = System.nanoTime();
                    boolean changed = lastPhase.put(key, phase) != phase;
                    Long last = lastSent.get(key);
                    if (!changed && last != null && now - last < 200_000_000L) {
                        return;
                    }
                    lastSent.put(key, now);
                    send(observer, PullProgress.newBuilder().setLayer(key).setPhase(PullProgress.Phase.valueOf(phase.name()))
                            .setDone(done).setTotal(layer.size()).build());
                }
            };
            var credentials = new Credentials(request.getUsername(), request.getPassword(), "", "");
            try {
                var record = images.pull(request.getImage(), credentials, listener);
                send(observer, PullProgress.newBuilder().setImageId(record.id()).build());
            } catch (RegistryException e) {
                throw ImageRpcs.status(e).withDescription("pulling " + request.getImage() + ": " + e.getMessage())
                        .withCause(e).asRuntimeException();
            }
        });
    }

    /** Pull threads report concurrently; a gRPC observer takes one message at a time. A gone client is ignored. */
    private static void send(StreamObserver<PullProgress> observer, PullProgress message) {
        synchronized (observer) {
            try {
                observer.onNext(message);
            } catch (RuntimeException e) {
                // the client went away: the pull still completes, like a CRI pull whose caller timed out
            }
        }
    }

    @Override
    public void export(ExportRequest request, StreamObserver<ExportResponse> observer) {
        Calls.unary(observer, () -> {
            if (request.getImage().isEmpty()) {
                throw new IllegalArgumentException("image must name the image to export");
            }
            var r = images.export(request.getImage(), absolute("path", request.getPath()));
            return ExportResponse.newBuilder().setId(r.id()).build();
        });
    }
}
