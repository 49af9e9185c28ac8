package dev.bollard.daemon.cri;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.api.cri.v1.AuthConfig;
import dev.bollard.api.cri.v1.FilesystemIdentifier;
import dev.bollard.api.cri.v1.FilesystemUsage;
import dev.bollard.api.cri.v1.Image;
import dev.bollard.api.cri.v1.ImageFsInfoRequest;
import dev.bollard.api.cri.v1.ImageFsInfoResponse;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ImageStatusResponse;
import dev.bollard.api.cri.v1.Int64Value;
import dev.bollard.api.cri.v1.ListImagesRequest;
import dev.bollard.api.cri.v1.ListImagesResponse;
import dev.bollard.api.cri.v1.PullImageRequest;
import dev.bollard.api.cri.v1.PullImageResponse;
import dev.bollard.api.cri.v1.RemoveImageRequest;
import dev.bollard.api.cri.v1.RemoveImageResponse;
import dev.bollard.api.cri.v1.UInt64Value;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.image.ImageManager;
import dev.bollard.daemon.image.ImageRecord;
import dev.bollard.daemon.registry.Credentials;
import dev.bollard.daemon.registry.RegistryException;
import dev.bollard.daemon.snapshot.ChainId;
import io.grpc.Status;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/** PullImage, ListImages, ImageStatus, RemoveImage, ImageFsInfo: CRI messages in, {@link ImageManager} calls out. */
public final class ImageRpcs {

    private final ImageManager images;
    private final java.util.function.Supplier<List<FilesystemUsage>> containerFilesystems;

    public ImageRpcs(ImageManager images) {
        this(images, List::of);
    }

    /** @param containerFilesystems ImageFsInfo's container_filesystems (the writable layers' usage) */
    public ImageRpcs(ImageManager images, java.util.function.Supplier<List<FilesystemUsage>> containerFilesystems) {
        this.images = images;
        this.containerFilesystems = containerFilesystems;
    }

    PullImageResponse pullImage(PullImageRequest request) throws IOException, InterruptedException {
        String image = request.getImage().getImage();
        if (image.isEmpty()) {
            throw new IllegalArgumentException("image.image must name the image to pull");
        }
        try {
            var record = images.pull(image, credentials(request.getAuth()));
            // The CRI's image_ref is the image ID, what ListImages and ImageStatus report as Image.id.
            return PullImageResponse.newBuilder().setImageRef(record.id()).build();
        } catch (RegistryException e) {
            throw status(e).withDescription("pulling " + image + ": " + e.getMessage()).withCause(e).asRuntimeException();
        } catch (dev.bollard.daemon.snapshot.LayerUnpacker.InvalidLayerException e) {
            // The image itself is unusable (unsafe paths, corrupt layer, wrong diff ID): retrying will not help.
            throw Status.FAILED_PRECONDITION.withDescription("pulling " + image + ": " + e.getMessage()).withCause(e).asRuntimeException();
        } catch (dev.bollard.daemon.store.DiskFullException e) {
            throw e; // RESOURCE_EXHAUSTED (Calls), naming the disk: no registry is to blame
        } catch (IOException e) {
            throw Status.UNAVAILABLE.withDescription("pulling " + image + ": " + e.getMessage()).withCause(e).asRuntimeException();
        }
    }

    /** The gRPC code for what the registry said. */
    public static Status status(RegistryException e) {
        return switch (e.kind()) {
            case NOT_FOUND -> Status.NOT_FOUND;
            case UNAUTHORIZED -> Status.UNAUTHENTICATED;
            case DENIED -> Status.PERMISSION_DENIED;
            case NO_MATCHING_PLATFORM, UNSUPPORTED_MEDIA_TYPE, INVALID_MANIFEST, TOO_LARGE -> Status.FAILED_PRECONDITION;
            case DIGEST_MISMATCH, SIZE_MISMATCH -> Status.DATA_LOSS;
            default -> Status.UNAVAILABLE;
        };
    }

    /** CRI's AuthConfig: user/password, or {@code auth} (base64 of user:password), or tokens. */
    static Credentials credentials(AuthConfig auth) {
        String user = auth.getUsername();
        String password = auth.getPassword();
        if (!auth.getAuth().isEmpty()) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(auth.getAuth().strip()), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("auth.auth is not valid base64");
            }
            int colon = decoded.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("auth.auth must encode user:password");
            }
            user = decoded.substring(0, colon);
            password = decoded.substring(colon + 1);
        }
        return new Credentials(user, password, auth.getIdentityToken(), auth.getRegistryToken());
    }

    ListImagesResponse listImages(ListImagesRequest request) {
        var response = ListImagesResponse.newBuilder();
        filtered(request.hasFilter() ? request.getFilter().getImage().getImage() : "").forEach(r -> response.addImages(toCri(r)));
        return response.build();
    }

    /** All images, or those the filter's reference or ID names. */
    List<ImageRecord> filtered(String filter) {
        if (filter.isEmpty()) {
            return images.list();
        }
        return images.resolve(filter).map(List::of).orElse(List.of());
    }

    ImageStatusResponse imageStatus(ImageStatusRequest request) throws IOException {
        var found = images.resolve(request.getImage().getImage());
        // Absent is not an error: the CRI wants an empty response, which kubelet reads as "pull it".
        if (found.isEmpty()) {
            return ImageStatusResponse.getDefaultInstance();
        }
        var r = found.get();
        var response = ImageStatusResponse.newBuilder().setImage(toCri(r));
        if (request.getVerbose()) {
            var info = new JsonObject();
            info.addProperty("id", r.id());
            info.addProperty("manifestDigest", r.manifestDigest());
            var diffIds = new ArrayList<Digest>();
            var layers = new JsonArray();
            for (var l : r.layers()) {
                diffIds.add(Digest.parse(l.diffId()));
                var o = new JsonObject();
                o.addProperty("digest", l.digest());
                o.addProperty("size", l.size());
                o.addProperty("mediaType", l.mediaType());
                o.addProperty("diffID", l.diffId());
                layers.add(o);
            }
            info.addProperty("chainID", diffIds.isEmpty() ? "" : ChainId.of(diffIds).toString());
            info.add("layers", layers);
            info.add("imageSpec", JsonParser.parseString(new String(images.config(r), StandardCharsets.UTF_8)));
            response.putInfo("info", info.toString());
        }
        return response.build();
    }

    RemoveImageResponse removeImage(RemoveImageRequest request) throws IOException {
        String image = request.getImage().getImage();
        if (image.isEmpty()) {
            throw new IllegalArgumentException("image.image must name the image to remove");
        }
        images.remove(image);
        return RemoveImageResponse.getDefaultInstance();
    }

    ImageFsInfoResponse imageFsInfo(ImageFsInfoRequest request) throws IOException {
        var usage = images.usage();
        var fs = FilesystemUsage.newBuilder()
                .setTimestamp(System.currentTimeMillis() * 1_000_000L)
                .setFsId(FilesystemIdentifier.newBuilder().setMountpoint(usage.mountpoint().toString()))
                .setUsedBytes(UInt64Value.newBuilder().setValue(usage.bytes()))
                .setInodesUsed(UInt64Value.newBuilder().setValue(usage.inodes()));
        return ImageFsInfoResponse.newBuilder().addImageFilesystems(fs)
                .addAllContainerFilesystems(containerFilesystems.get()).build();
    }

    static Image toCri(ImageRecord r) {
        var image = Image.newBuilder()
                .setId(r.id())
                .addAllRepoTags(r.repoTags())
                .addAllRepoDigests(r.repoDigests())
                .setSize(r.size())
                .setUsername(r.username())
                .setPinned(r.pinned())
                .setSpec(ImageSpec.newBuilder().setImage(r.id()).putAllAnnotations(r.annotations()));
        if (r.uid() >= 0) {
            image.setUid(Int64Value.newBuilder().setValue(r.uid()));
        }
        return image.build();
    }
}
