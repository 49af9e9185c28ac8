package dev.bollard.daemon.admin;

import dev.bollard.api.admin.v1.ExportRequest;
import dev.bollard.api.admin.v1.ExportResponse;
import dev.bollard.api.admin.v1.ImagesGrpc;
import dev.bollard.api.admin.v1.ImportRequest;
import dev.bollard.api.admin.v1.ImportResponse;
import dev.bollard.api.admin.v1.ImportedImage;
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
            for (var r : images.importArchive(absolute("path", request.getPath()), request.getBaseName())) {
                response.addImages(ImportedImage.newBuilder().setId(r.id()).addAllRepoTags(r.repoTags()));
            }
            return response.build();
        });
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
