package dev.bollard.daemon.image;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.content.ContentStore;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.image.ref.ImageReference;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.registry.BlobTarget;
import dev.bollard.daemon.registry.Credentials;
import dev.bollard.daemon.registry.Descriptor;
import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.HttpClients;
import dev.bollard.daemon.registry.RegistryClient;
import dev.bollard.daemon.registry.RegistryEndpoint;
import dev.bollard.daemon.registry.RegistryException;
import dev.bollard.daemon.registry.ResolvedImage;
import dev.bollard.daemon.snapshot.ChainId;
import dev.bollard.daemon.snapshot.LayerUnpacker;
import dev.bollard.daemon.snapshot.SnapshotStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.regex.Pattern;

/**
 * The image subsystem's front: pulls (registry → content store → snapshots → image record), lookups by
 * reference or ID, removal with garbage collection, and the usage of the image filesystem.
 *
 * <p>Layout under its root: {@code content/} (blobs by digest), {@code snapshots/} (one unpacked layer per
 * chain ID), {@code records/} (image records). Pulls hold a shared lock and garbage collection an exclusive one, so a
 * collection never removes what a pull in flight is about to reference.
 */
public final class ImageManager implements AutoCloseable {

    private static final Log LOG = Log.get("image");
    private static final Pattern FULL_ID = Pattern.compile("(sha256:)?[a-f0-9]{64}");

    private final ContentStore content;
    private final SnapshotStore snapshots;
    private final ImageStore images;
    private final HostsConfig hosts;
    private final HttpClients clients;
    private final RegistryClient.Options options;
    private final Semaphore layerSlots;
    private final Clock clock;
    private final Path root;
    private final ReentrantReadWriteLock gcLock = new ReentrantReadWriteLock();

    public ImageManager(Path root, HostsConfig hosts, RegistryClient.Options options, int layerConcurrency, Clock clock)
            throws IOException {
        this.root = root;
        this.content = new ContentStore(root.resolve("content"));
        this.snapshots = new SnapshotStore(root.resolve("snapshots"));
        this.images = new ImageStore(root.resolve("records"), clock);
        this.hosts = hosts;
        this.clients = new HttpClients();
        this.options = options;
        this.layerSlots = new Semaphore(layerConcurrency);
        this.clock = clock;
    }

    public ContentStore content() {
        return content;
    }

    public SnapshotStore snapshots() {
        return snapshots;
    }

    /**
     * Pulls {@code image} and records it. Layers are fetched and unpacked in parallel; a layer whose snapshot
     * exists is skipped, and concurrent pulls sharing a blob or a layer fetch and unpack it once.
     *
     * @throws IllegalArgumentException for a malformed reference
     * @throws RegistryException        for what the registry said (not found, unauthorized, …)
     */
    public ImageRecord pull(String image, Credentials credentials) throws IOException, InterruptedException {
        ImageReference ref = ImageReference.parse(image).withoutTag();
        List<RegistryEndpoint> endpoints;
        try {
            endpoints = hosts.endpointsFor(ref.domain());
        } catch (ConfigException e) {
            throw new IOException("registry configuration for " + ref.domain() + ": " + e.getMessage(), e);
        }
        var registry = new RegistryClient(this::client, host -> Optional.of(credentials), options);
        long start = System.nanoTime();
        ResolvedImage resolved = registry.resolve(ref.repository(), ref.manifestReference(), endpoints);

        gcLock.readLock().lock();
        try {
            content.put(resolved.top().digest(), resolved.top().bytes());
            for (var index : resolved.indexes()) {
                content.put(index.digest(), index.bytes());
            }
            content.put(resolved.manifest().digest(), resolved.manifest().bytes());
            Descriptor configDesc = resolved.image().config();
            byte[] configBytes = content.has(configDesc.digest()) ? content.read(configDesc.digest())
                    : registry.fetchBlobBytes(ref.repository(), configDesc, endpoints);
            content.put(configDesc.digest(), configBytes);
            var config = ImageConfigs.parse(configBytes);
            List<Descriptor> layers = resolved.image().layers();
            if (config.diffIds().size() != layers.size()) {
                throw new IOException(ref + ": the manifest has " + layers.size() + " layers, its config "
                        + config.diffIds().size() + " diff IDs");
            }
            List<Digest> chainIds = ChainId.all(config.diffIds());
            fetchAndUnpack(registry, ref.repository(), endpoints, layers, config.diffIds(), chainIds);

            long size = resolved.manifest().bytes().length + configDesc.size()
                    + layers.stream().mapToLong(Descriptor::size).sum();
            var recordLayers = new ArrayList<ImageRecord.Layer>();
            for (int i = 0; i < layers.size(); i++) {
                var l = layers.get(i);
                recordLayers.add(new ImageRecord.Layer(l.digest().toString(), l.size(), l.mediaType(),
                        config.diffIds().get(i).toString()));
            }
            var record = new ImageRecord(ImageRecord.SCHEMA, configDesc.digest().toString(),
                    ref.repoTag().map(List::of).orElse(List.of()),
                    List.of(ref.withDigest(resolved.top().digest()).toString()), size,
                    resolved.manifest().digest().toString(), recordLayers, config.user().uid(),
                    config.user().username(), false, resolved.image().annotations(), clock.millis());
            var displaced = images.add(record);
            LOG.info("pulled image", "image", ref, "id", record.id(), "size", size,
                    "millis", (System.nanoTime() - start) / 1_000_000);
            if (!displaced.isEmpty()) {
                collectLater();
            }
            return images.byId(record.id()).orElseThrow();
        } finally {
            gcLock.readLock().unlock();
        }
    }

    private HttpClient client(RegistryEndpoint.Tls tls) {
        try {
            return clients.clientFor(tls);
        } catch (ConfigException e) {
            throw new UncheckedIOException(new IOException(e.getMessage(), e));
        }
    }

    private void fetchAndUnpack(RegistryClient registry, String repository, List<RegistryEndpoint> endpoints,
                                List<Descriptor> layers, List<Digest> diffIds, List<Digest> chainIds)
            throws IOException, InterruptedException {
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new ArrayList<Future<?>>();
            for (int i = 0; i < layers.size(); i++) {
                Descriptor layer = layers.get(i);
                Digest diffId = diffIds.get(i);
                Digest chainId = chainIds.get(i);
                if (LayerUnpacker.compressionOf(layer.mediaType()).isEmpty()) {
                    throw new IOException("layer " + layer.digest() + ": unsupported media type \"" + layer.mediaType() + "\"");
                }
                futures.add(pool.submit(() -> {
                    if (snapshots.has(chainId)) {
                        return null;
                    }
                    layerSlots.acquire();
                    try {
                        fetchBlob(registry, repository, endpoints, layer);
                        snapshots.ensure(chainId, dir -> {
                            try (var in = content.open(layer.digest())) {
                                LayerUnpacker.unpack(in, layer.mediaType(), dir, diffId);
                            }
                        });
                    } finally {
                        layerSlots.release();
                    }
                    return null;
                }));
            }
            for (var f : futures) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    futures.forEach(other -> other.cancel(true));
                    throw rethrow(e.getCause());
                }
            }
        }
    }

    private static IOException rethrow(Throwable cause) throws InterruptedException {
        return switch (cause) {
            case IOException io -> io;
            case InterruptedException ie -> throw ie;
            case UncheckedIOException u -> u.getCause();
            case RuntimeException r -> throw r;
            default -> new IOException(cause);
        };
    }

    /** Into the content store, resuming a partial ingest; a blob that fails verification leaves nothing. */
    private void fetchBlob(RegistryClient registry, String repository, List<RegistryEndpoint> endpoints, Descriptor blob)
            throws IOException, InterruptedException {
        try (var w = content.writer(blob.digest(), blob.size())) {
            if (w.present()) {
                return;
            }
            var target = w.offset() > 0 ? BlobTarget.resume(w.channel(), w.offset(), w.prefixHash())
                    : BlobTarget.of(w.channel());
            try {
                registry.fetchBlob(repository, blob, endpoints, target);
            } catch (RegistryException e) {
                if (e.kind() == RegistryException.Kind.DIGEST_MISMATCH || e.kind() == RegistryException.Kind.SIZE_MISMATCH) {
                    w.abort();
                }
                throw e;
            }
            w.commit();
        }
    }

    /** The image a reference or an ID (full, with or without {@code sha256:}) names. */
    public Optional<ImageRecord> resolve(String image) {
        if (image.isEmpty()) {
            return Optional.empty();
        }
        if (FULL_ID.matcher(image).matches()) {
            var byId = images.byId(image.startsWith("sha256:") ? image : "sha256:" + image);
            if (byId.isPresent()) {
                return byId;
            }
        }
        try {
            var ref = ImageReference.parse(image).withoutTag();
            return images.byReference(ref.toString());
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    public List<ImageRecord> list() {
        return List.copyOf(images.list());
    }

    public byte[] config(ImageRecord image) throws IOException {
        return content.read(Digest.parse(image.id()));
    }

    /**
     * Removes an image. Named by one tag of an image with several tags, only that tag goes (CRI-O and docker
     * untag); named by ID, digest reference or its only tag, the whole image goes, then its unshared content.
     *
     * @return whether anything was removed or untagged (false for an absent image: removal is idempotent)
     */
    public boolean remove(String image) throws IOException {
        var found = resolve(image);
        if (found.isEmpty()) {
            return false;
        }
        var r = found.get();
        if (!FULL_ID.matcher(image).matches()) {
            var ref = ImageReference.parse(image).withoutTag();
            if (ref.digest().isEmpty() && r.repoTags().size() > 1) {
                images.untag(ref.toString());
                return true;
            }
        }
        images.remove(r.id());
        collect();
        return true;
    }

    private void collectLater() {
        Thread.ofVirtual().name("image-gc").start(() -> {
            try {
                collect();
            } catch (IOException e) {
                LOG.error("image garbage collection failed", e);
            }
        });
    }

    /**
     * Removes blobs and snapshots no image references. Exclusive with pulls: what a pull in flight has stored
     * but not yet recorded is never collected.
     */
    public void collect() throws IOException {
        gcLock.writeLock().lock();
        try {
            Set<Digest> blobs = new HashSet<>();
            Set<Digest> chains = new HashSet<>();
            for (var r : images.list()) {
                blobs.add(Digest.parse(r.id()));
                blobs.add(Digest.parse(r.manifestDigest()));
                r.repoDigests().forEach(d -> blobs.add(Digest.parse(d.substring(d.indexOf('@') + 1))));
                var diffIds = new ArrayList<Digest>();
                for (var l : r.layers()) {
                    blobs.add(Digest.parse(l.digest()));
                    diffIds.add(Digest.parse(l.diffId()));
                }
                chains.addAll(ChainId.all(diffIds));
            }
            for (var d : content.list()) {
                if (!blobs.contains(d)) {
                    content.delete(d);
                    LOG.debug("collected blob", "digest", d);
                }
            }
            for (var c : snapshots.list()) {
                if (!chains.contains(c)) {
                    snapshots.remove(c);
                    LOG.debug("collected snapshot", "chainId", c);
                }
            }
        } finally {
            gcLock.writeLock().unlock();
        }
    }

    /** Bytes and inodes under the image root, hard links counted once. */
    public record Usage(Path mountpoint, long bytes, long inodes) {
    }

    public Usage usage() throws IOException {
        var seen = new HashSet<Object>();
        long[] totals = new long[2];
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                totals[1]++;
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                Object key = attrs.fileKey();
                if (key == null || seen.add(key)) {
                    totals[1]++;
                    if (attrs.isRegularFile()) {
                        totals[0] += attrs.size();
                    }
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException exc) {
                return FileVisitResult.CONTINUE;
            }
        });
        return new Usage(root, totals[0], totals[1]);
    }

    @Override
    public void close() {
        clients.close();
    }
}
