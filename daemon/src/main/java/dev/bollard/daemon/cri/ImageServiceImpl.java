package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.ImageFsInfoRequest;
import dev.bollard.api.cri.v1.ImageFsInfoResponse;
import dev.bollard.api.cri.v1.ImageServiceGrpc;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ImageStatusResponse;
import dev.bollard.api.cri.v1.ListImagesRequest;
import dev.bollard.api.cri.v1.ListImagesResponse;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.PullImageResponse;
import dev.bollard.api.cri.v1.RemoveImageRequest;
import dev.bollard.api.cri.v1.RemoveImageResponse;
import dev.bollard.api.cri.v1.StreamImagesRequest;
import dev.bollard.api.cri.v1.StreamImagesResponse;
import io.grpc.stub.StreamObserver;

/** runtime.v1.ImageService: a router to {@link ImageRpcs}. */
public final class ImageServiceImpl extends ImageServiceGrpc.ImageServiceImplBase {

    /** Images per StreamImages message: well under the gRPC message limit even with long tag lists. */
    private static final int STREAM_CHUNK = 100;

    private final ImageRpcs rpcs;

    public ImageServiceImpl(ImageRpcs rpcs) {
        this.rpcs = rpcs;
    }

    @Override
    public void listImages(ListImagesRequest request, StreamObserver<ListImagesResponse> observer) {
        Calls.unary(observer, () -> rpcs.listImages(request));
    }

    @Override
    public void streamImages(StreamImagesRequest request, StreamObserver<StreamImagesResponse> observer) {
        Calls.stream(observer, () -> {
            var all = rpcs.filtered(request.hasFilter() ? request.getFilter().getImage().getImage() : "");
            for (int i = 0; i < all.size(); i += STREAM_CHUNK) {
                var chunk = StreamImagesResponse.newBuilder();
                all.subList(i, Math.min(all.size(), i + STREAM_CHUNK)).forEach(r -> chunk.addImages(ImageRpcs.toCri(r)));
                observer.onNext(chunk.build());
            }
        });
    }

    @Override
    public void imageStatus(ImageStatusRequest request, StreamObserver<ImageStatusResponse> observer) {
        Calls.unary(observer, () -> rpcs.imageStatus(request));
    }

    @Override
    public void pullImage(PullImageRequest request, StreamObserver<PullImageResponse> observer) {
        Calls.unary(observer, () -> rpcs.pullImage(request));
    }

    @Override
    public void removeImage(RemoveImageRequest request, StreamObserver<RemoveImageResponse> observer) {
        Calls.unary(observer, () -> rpcs.removeImage(request));
    }

    @Override
    public void imageFsInfo(ImageFsInfoRequest request, StreamObserver<ImageFsInfoResponse> observer) {
        Calls.unary(observer, () -> rpcs.imageFsInfo(request));
    }
}
