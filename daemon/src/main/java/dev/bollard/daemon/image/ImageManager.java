package dev.bollard.daemon.image;

import dev.bollard.daemon.config.ConfigException;
import dev.bollard.daemon.content.ContentStore;
import dev.bollard.daemon.content.Digest;
import dev.bollard.daemon.store.CrashPoints;
import dev.bollard.daemon.store.DiskFullException;
import dev.bollard.daemon.image.ref.ImageReference;
import dev.bollard.daemon.log.Log;
import dev.bollard.daemon.registry.BlobTarget;
import dev.bollard.daemon.registry.Credentials;
import dev.bollard.daemon.registry.Descriptor;
import dev.bollard.daemon.registry.HostsConfig;
import dev.bollard.daemon.registry.HttpClients;
import dev.bollard.daemon.registry.Manifest;
import dev.bollard.daemon.registry.Manifests;
import dev.bollard.daemon.registry.MediaTypes;
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
    private volatile java.util.function.Supplier<Set<Digest>> snapshotsInUse = Set::of;

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

    /**
     * Start-up housekeeping: partial downloads no retry will resume are dropped at once (the rule of
     * {@link ContentStore#pruneIdleIngests}: older than an hour, or beyond a tenth of the disk), then, in the
     * background, content a crashed pull or import stored but never recorded is collected.
     */
    public void startHousekeeping() {
        try {
            int pruned = content.pruneIdleIngests(clock.instant());
            if (pruned > 0) {
                LOG.info("removed abandoned partial downloads", "count", pruned);
            }
        } catch (IOException e) {
            LOG.error("removing abandoned partial downloads failed", e);
        }
        Thread.ofVirtual().name("image-housekeeping").start(() -> {
            try {
                collect();
            } catch (IOException e) {
                LOG.error("image housekeeping failed", e);
            }
        });
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
        return pull(image, credentials, PullListener.NONE);
    }

    /** What a pull reports about each layer, for progress displays. Called from the pull's threads. */
    public interface PullListener {
        PullListener NONE = new PullListener() {
        };

        enum Phase { WAITING, DOWNLOADING, UNPACKING, DONE, EXISTS }

        default void layer(Descriptor layer, Phase phase, long bytesDone) {
        }
    }

    /** Told of each pull's outcome (operator metrics). */
    public interface PullObserver {
        PullObserver NONE = new PullObserver() {
        };

        default void pulled(ImageRecord image, long nanos) {
        }

        default void failed() {
        }
    }

    private volatile PullObserver pullObserver = PullObserver.NONE;

    public void pullObserver(PullObserver observer) {
        this.pullObserver = observer;
    }

    public ImageRecord pull(String image, Credentials credentials, PullListener listener)
            throws IOException, InterruptedException {
        long start = System.nanoTime();
        ImageRecord record;
        try {
            record = pullImage(image, credentials, listener);
        } catch (IOException e) {
            pullObserver.failed();
            throw diskFullOr(e);
        } catch (InterruptedException | RuntimeException e) {
            pullObserver.failed();
            throw e;
        }
        pullObserver.pulled(record, System.nanoTime() - start);
        return record;
    }

    private volatile java.util.concurrent.Future<?> pullGate = java.util.concurrent.CompletableFuture.completedFuture(null);

    /**
     * Pulls wait (at most a minute) until {@code gate} is done before they write anything: the daemon's import of
     * the builtin pause image at start, which must find room on the disk before any pull can fill it.
     */
    public void holdPullsUntil(java.util.concurrent.Future<?> gate) {
        this.pullGate = gate;
    }

    /** Waits as a pull does for the imports the daemon makes at start (operators' imports call it first). */
    public void awaitStartImports() throws InterruptedException {
        awaitPullGate();
    }

    private void awaitPullGate() throws InterruptedException {
        try {
            pullGate.get(1, java.util.concurrent.TimeUnit.MINUTES);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.warn("pulling without waiting for the sandbox image import", "error", String.valueOf(e.getMessage()));
        }
    }

    private ImageRecord pullImage(String image, Credentials credentials, PullListener listener)
            throws IOException, InterruptedException {
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

        awaitPullGate();
        gcLock.readLock().lock();
        try {
            content.put(resolved.top().digest(), resolved.top().bytes());
            for (var index : resolved.indexes()) {
                content.put(index.digest(), index.bytes());
            }
            content.put(resolved.manifest().digest(), resolved.manifest().bytes());
            Descriptor configDesc = resolved.image().config();
            if (!content.has(configDesc.digest())) {
                content.put(configDesc.digest(), registry.fetchBlobBytes(ref.repository(), configDesc, endpoints));
            }
            CrashPoints.hit("PullImage.afterManifest");
            var record = register(resolved.manifest().digest(), resolved.manifest().bytes().length, resolved.image(),
                    ref.repoTag().map(List::of).orElse(List.of()),
                    List.of(ref.withDigest(resolved.top().digest()).toString()),
                    (layer, w) -> download(registry, ref.repository(), endpoints, layer, w, listener), listener);
            CrashPoints.hit("PullImage.afterRecord");
            LOG.info("pulled image", "image", ref, "id", record.id(), "size", record.size(),
                    "millis", (System.nanoTime() - start) / 1_000_000);
            return record;
        } finally {
            gcLock.readLock().unlock();
        }
    }

    /**
     * A write that failed for lack of space as a {@link DiskFullException} naming the image filesystem, after
     * reclaiming what no image holds: every partial download no pull is writing (a retry into a full disk cannot
     * finish them), and unrecorded blobs and snapshots (at once if no pull or import is running, else as soon as
     * they end), so that the disk does not stay full for the next pull or the pause image's pods. Other failures
     * are returned unchanged.
     */
    private IOException diskFullOr(IOException failure) {
        var full = DiskFullException.of(failure, "image filesystem", root);
        if (full.isEmpty()) {
            return failure;
        }
        try {
            int dropped = content.dropIdleIngests();
            LOG.warn("image filesystem full: dropped partial downloads", "count", dropped, "error", failure.getMessage());
            if (gcLock.writeLock().tryLock()) {
                try {
                    collect();
                } finally {
                    gcLock.writeLock().unlock();
                }
            } else {
                collectLater();
            }
        } catch (IOException e) {
            full.get().addSuppressed(e);
        }
        return full.get();
    }

    /**
     * Writes a layer's compressed blob into an open ingest (from a registry, or fails for an archive); the caller
     * commits. Runs on its own thread while the layer is unpacked from the growing ingest.
     */
    @FunctionalInterface
    private interface BlobSource {
        void fetch(Descriptor layer, ContentStore.Writer into) throws IOException, InterruptedException;
    }

    /**
     * The part of a pull or import after the manifest and config are stored: unpack every layer (fetching missing
     * blobs from {@code source}) and record the image under its references. Called under the shared GC lock.
     */
    private ImageRecord register(Digest manifestDigest, long manifestSize, Manifest.Image manifest, List<String> repoTags,
                                 List<String> repoDigests, BlobSource source, PullListener listener)
            throws IOException, InterruptedException {
        Descriptor configDesc = manifest.config();
        var config = ImageConfigs.parse(content.read(configDesc.digest()));
        List<Descriptor> layers = manifest.layers();
        if (config.diffIds().size() != layers.size()) {
            throw new IOException("manifest " + manifestDigest + " has " + layers.size() + " layers, its config "
                    + config.diffIds().size() + " diff IDs");
        }
        List<Digest> chainIds = ChainId.all(config.diffIds());
        unpackLayers(source, layers, config.diffIds(), chainIds, listener);
        // Blobs and snapshots stored, no record yet: start-up housekeeping collects them, a new pull reuses them.
        CrashPoints.hit("PullImage.afterLayers");

        long size = manifestSize + configDesc.size() + layers.stream().mapToLong(Descriptor::size).sum();
        var recordLayers = new ArrayList<ImageRecord.Layer>();
        for (int i = 0; i < layers.size(); i++) {
            var l = layers.get(i);
            recordLayers.add(new ImageRecord.Layer(l.digest().toString(), l.size(), l.mediaType(),
                    config.diffIds().get(i).toString()));
        }
        var record = new ImageRecord(ImageRecord.SCHEMA, configDesc.digest().toString(), repoTags, repoDigests, size,
                manifestDigest.toString(), recordLayers, config.user().uid(), config.user().username(), false,
                manifest.annotations(), clock.millis());
        var displaced = images.add(record);
        if (!displaced.isEmpty()) {
            collectLater();
        }
        return images.byId(record.id()).orElseThrow();
    }

    /**
     * Loads every image of an OCI image layout archive or a {@code docker save} archive: no registry involved.
     *
     * @param baseName name for entries the archive does not name fully (their ref.name becomes the tag); may be empty
     * @throws IllegalArgumentException when an entry has no usable name and no base name is given
     */
    public List<ImageRecord> importArchive(Path archive, String baseName) throws IOException, InterruptedException {
        if (!Files.isRegularFile(archive)) {
            throw new IllegalArgumentException("image archive " + archive + " does not exist or is not a file");
        }
        var imported = new ArrayList<ImageRecord>();
        IOException failure = null;
        gcLock.readLock().lock();
        try {
            importEntries(archive, baseName, imported);
        } catch (IOException e) {
            failure = e;
        } finally {
            gcLock.readLock().unlock();
        }
        if (failure != null) {
            throw diskFullOr(failure); // outside the lock: a full disk collects at once
        }
        collectLater(); // archive files no image uses (index.json, docker's per-layer json) go again
        LOG.info("imported image archive", "path", archive, "images", imported.size());
        return imported;
    }

    private void importEntries(Path archive, String baseName, List<ImageRecord> imported)
            throws IOException, InterruptedException {
        var loaded = ImageArchives.load(archive, content);
        BlobSource none = (layer, w) -> {
            throw new IOException("image archive " + archive + ": layer " + layer.digest() + " is not in it");
        };
        if (loaded.isOciLayout()) {
            var manifests = loaded.ociIndex().getAsJsonArray("manifests");
            if (manifests == null || manifests.isEmpty()) {
                throw new IOException("image archive " + archive + ": index.json lists no manifests");
            }
            for (var m : manifests) {
                imported.add(importOciEntry(archive, m.getAsJsonObject(), baseName, none));
            }
        } else {
            for (var m : loaded.dockerManifest()) {
                imported.add(importDockerEntry(archive, loaded, m.getAsJsonObject(), baseName, none));
            }
        }
    }

    private ImageRecord importOciEntry(Path archive, com.google.gson.JsonObject descriptor, String baseName, BlobSource none)
            throws IOException, InterruptedException {
        Digest top = Digest.parse(descriptor.get("digest").getAsString());
        String mediaType = descriptor.has("mediaType") ? descriptor.get("mediaType").getAsString() : "";
        var annotations = descriptor.has("annotations") ? descriptor.getAsJsonObject("annotations") : new com.google.gson.JsonObject();
        String fullName = annotations.has(ImageArchives.ANNOTATION_IMAGE_NAME)
                ? annotations.get(ImageArchives.ANNOTATION_IMAGE_NAME).getAsString() : null;
        String refName = annotations.has(ImageArchives.ANNOTATION_REF_NAME)
                ? annotations.get(ImageArchives.ANNOTATION_REF_NAME).getAsString() : null;
        ImageReference ref;
        if (fullName != null) {
            ref = ImageReference.parse(fullName);
        } else if (refName != null && !baseName.isEmpty()) {
            ref = ImageReference.parse(baseName + ":" + refName);
        } else if (refName != null && (refName.contains("/") || refName.contains("."))) {
            ref = ImageReference.parse(refName);
        } else if (!baseName.isEmpty()) {
            ref = ImageReference.parse(baseName);
        } else {
            throw new IllegalArgumentException("image archive " + archive + ": manifest " + top
                    + " has no full image name (" + ImageArchives.ANNOTATION_IMAGE_NAME + "); give a base name");
        }
        Digest manifestDigest = top;
        byte[] bytes = readArchiveBlob(archive, top);
        Manifest parsed = Manifests.parse(mediaType, bytes);
        for (int depth = 0; parsed instanceof Manifest.Index index; depth++) {
            if (depth > 4) {
                throw new IOException("image archive " + archive + ": indexes nested too deep");
            }
            var chosen = Manifests.selectPlatform(index, options.platform());
            manifestDigest = chosen.digest();
            bytes = readArchiveBlob(archive, manifestDigest);
            parsed = Manifests.parse(chosen.mediaType(), bytes);
        }
        var image = (Manifest.Image) parsed;
        readArchiveBlob(archive, image.config().digest());
        ref = ref.withoutTag();
        return register(manifestDigest, bytes.length, image, ref.repoTag().map(List::of).orElse(List.of()),
                List.of(ref.withDigest(top).toString()), none, PullListener.NONE);
    }

    private byte[] readArchiveBlob(Path archive, Digest digest) throws IOException {
        if (!content.has(digest)) {
            throw new IOException("image archive " + archive + ": blob " + digest
                    + " is missing (or its content does not match its digest)");
        }
        return content.read(digest);
    }

    private ImageRecord importDockerEntry(Path archive, ImageArchives.Loaded loaded, com.google.gson.JsonObject entry,
                                          String baseName, BlobSource none) throws IOException, InterruptedException {
        Digest config = loaded.file(entry.get("Config").getAsString());
        var layers = new com.google.gson.JsonArray();
        for (var l : entry.getAsJsonArray("Layers")) {
            Digest d = loaded.file(l.getAsString());
            var desc = new com.google.gson.JsonObject();
            desc.addProperty("mediaType", gzipped(d) ? MediaTypes.DOCKER_LAYER_GZIP : "application/vnd.docker.image.rootfs.diff.tar");
            desc.addProperty("size", content.size(d).orElseThrow());
            desc.addProperty("digest", d.toString());
            layers.add(desc);
        }
        var configDesc = new com.google.gson.JsonObject();
        configDesc.addProperty("mediaType", MediaTypes.DOCKER_CONFIG);
        configDesc.addProperty("size", content.size(config).orElseThrow());
        configDesc.addProperty("digest", config.toString());
        var manifest = new com.google.gson.JsonObject();
        manifest.addProperty("schemaVersion", 2);
        manifest.addProperty("mediaType", MediaTypes.DOCKER_MANIFEST);
        manifest.add("config", configDesc);
        manifest.add("layers", layers);
        byte[] bytes = manifest.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Digest manifestDigest = Digest.sha256(bytes);
        content.put(manifestDigest, bytes);
        var tags = new ArrayList<String>();
        if (entry.has("RepoTags") && entry.get("RepoTags").isJsonArray()) {
            for (var t : entry.getAsJsonArray("RepoTags")) {
                ImageReference.parse(t.getAsString()).repoTag().ifPresent(tags::add);
            }
        }
        if (tags.isEmpty()) {
            if (baseName.isEmpty()) {
                throw new IllegalArgumentException("image archive " + archive + ": image " + config
                        + " has no RepoTags; give a base name");
            }
            ImageReference.parse(baseName).repoTag().ifPresent(tags::add);
        }
        // A docker archive carries no registry manifest, so the image gets no repo digest.
        return register(manifestDigest, bytes.length, (Manifest.Image) Manifests.parse(MediaTypes.DOCKER_MANIFEST, bytes),
                tags, List.of(), none, PullListener.NONE);
    }

    private boolean gzipped(Digest blob) throws IOException {
        try (var in = content.open(blob)) {
            return in.read() == 0x1f && in.read() == 0x8b;
        }
    }

    /**
     * Writes one image as an OCI image layout archive at {@code out}, which must not exist; it appears whole or
     * not at all.
     */
    public ImageRecord export(String image, Path out) throws IOException {
        var record = resolve(image).orElseThrow(() -> new java.util.NoSuchElementException("image \"" + image + "\" not found"));
        if (Files.exists(out)) {
            throw new IllegalArgumentException(out + " already exists");
        }
        Path parent = out.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("directory of " + out + " does not exist");
        }
        Digest manifest = Digest.parse(record.manifestDigest());
        byte[] manifestBytes = content.read(manifest);
        String mediaType = Manifests.parse("", manifestBytes).mediaType();
        String name = null;
        String tag = null;
        if (!record.repoTags().isEmpty()) {
            var ref = ImageReference.parse(record.repoTags().getFirst());
            name = ref.name();
            tag = ref.tag().orElse(null);
        }
        var export = new ImageArchives.Export(manifest, mediaType, manifestBytes.length, Digest.parse(record.id()),
                record.layers().stream().map(l -> Digest.parse(l.digest())).toList(), name, tag);
        Path tmp = Files.createTempFile(parent, "." + out.getFileName(), ".tmp");
        try {
            try (var os = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                ImageArchives.write(os, export, content);
            }
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            Files.move(tmp, out, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return record;
    }

    private HttpClient client(RegistryEndpoint.Tls tls) {
        try {
            return clients.clientFor(tls);
        } catch (ConfigException e) {
            throw new UncheckedIOException(new IOException(e.getMessage(), e));
        }
    }

    private void unpackLayers(BlobSource source, List<Descriptor> layers, List<Digest> diffIds, List<Digest> chainIds,
                              PullListener listener)
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
                        listener.layer(layer, PullListener.Phase.EXISTS, layer.size());
                        return null;
                    }
                    listener.layer(layer, PullListener.Phase.WAITING, 0);
                    layerSlots.acquire();
                    try {
                        snapshots.ensure(chainId, dir -> fetchAndUnpack(source, layer, diffId, dir, listener));
                        listener.layer(layer, PullListener.Phase.DONE, layer.size());
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

    /**
     * One layer into {@code dir}. A blob already stored is unpacked from the store. A missing one is downloaded on
     * another thread while this one decompresses and unpacks it from the growing ingest file, so network and CPU
     * overlap and no layer is held in memory. The snapshot is only published (by the caller) once the blob has
     * also been verified and committed. If the download has to start over (a mismatch, another endpoint), the
     * layer is unpacked again from the committed blob.
     */
    private void fetchAndUnpack(BlobSource source, Descriptor layer, Digest diffId, Path dir, PullListener listener)
            throws IOException {
        try (var w = content.writer(layer.digest(), layer.size())) {
            if (w.present()) {
                listener.layer(layer, PullListener.Phase.UNPACKING, layer.size());
                unpackStored(layer, diffId, dir);
                return;
            }
            var download = new java.util.concurrent.FutureTask<Void>(() -> {
                try {
                    source.fetch(layer, w);
                    w.commit();
                } catch (Throwable t) {
                    w.stopFollowers();
                    throw t;
                }
                return null;
            });
            Thread.ofVirtual().name("layer-download").start(download);
            IOException unpackFailure = null;
            try (var follower = w.follow()) {
                LayerUnpacker.unpack(follower, layer.mediaType(), dir, diffId);
            } catch (IOException e) {
                unpackFailure = e;
            }
            awaitDownload(download);
            if (unpackFailure != null && w.restarted()) {
                // The unpacker read bytes the download later threw away (and removed its partial tree when it
                // failed on them); the committed blob is verified and complete now.
                Files.createDirectory(dir);
                Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
                unpackStored(layer, diffId, dir);
            } else if (unpackFailure != null) {
                throw unpackFailure;
            }
        }
    }

    private void unpackStored(Descriptor layer, Digest diffId, Path dir) throws IOException {
        try (var in = content.open(layer.digest())) {
            LayerUnpacker.unpack(in, layer.mediaType(), dir, diffId);
        }
    }

    /** Waits for a layer's download; its failure is the failure that matters (the unpack only saw its effect). */
    private static void awaitDownload(java.util.concurrent.FutureTask<Void> download) throws IOException {
        try {
            download.get();
        } catch (InterruptedException e) {
            download.cancel(true);
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted waiting for a layer download");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IOException(e.getCause());
        }
    }

    /** From the registry into an open ingest, resuming its partial data; a blob that fails verification leaves nothing. */
    private static void download(RegistryClient registry, String repository, List<RegistryEndpoint> endpoints,
                                 Descriptor blob, ContentStore.Writer w, PullListener listener)
            throws IOException, InterruptedException {
        var target = (w.offset() > 0 ? BlobTarget.resume(w.channel(), w.offset(), w.prefixHash())
                : BlobTarget.of(w.channel()))
                .withProgress(done -> listener.layer(blob, PullListener.Phase.DOWNLOADING, done));
        listener.layer(blob, PullListener.Phase.DOWNLOADING, w.offset());
        try {
            registry.fetchBlob(repository, blob, endpoints, target);
        } catch (RegistryException e) {
            if (e.kind() == RegistryException.Kind.DIGEST_MISMATCH || e.kind() == RegistryException.Kind.SIZE_MISMATCH) {
                w.abort();
            }
            throw e;
        }
    }

    private volatile Set<String> pinnedReferences = Set.of();
    /** Bumped after each change of the pinned references (they change what {@link #resolve} answers). */
    private final java.util.concurrent.atomic.AtomicLong pinsVersion = new java.util.concurrent.atomic.AtomicLong();

    /**
     * Counts every change of what {@link #resolve} and {@link #list} answer (records, references, pins): an answer
     * built from images at version N is still right while this reads N. Read it before resolving.
     */
    public long version() {
        return images.version() + pinsVersion.get();
    }

    /**
     * Reports the image under {@code reference} as pinned (the sandbox image), as containerd does: kubelet's image
     * garbage collection never removes a pinned image, so a node short of disk keeps its pause image.
     */
    public void pin(String reference) {
        var normalized = new HashSet<>(pinnedReferences);
        normalized.add(ImageReference.parse(reference).withoutTag().toString());
        pinnedReferences = Set.copyOf(normalized);
        pinsVersion.incrementAndGet();
    }

    private ImageRecord withPins(ImageRecord r) {
        return !r.pinned() && r.repoTags().stream().anyMatch(pinnedReferences::contains) ? r.withPinned(true) : r;
    }

    /** The image a reference or an ID (full, with or without {@code sha256:}) names. */
    public Optional<ImageRecord> resolve(String image) {
        return resolveRecord(image).map(this::withPins);
    }

    private Optional<ImageRecord> resolveRecord(String image) {
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
        return images.list().stream().map(this::withPins).toList();
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
        CrashPoints.hit("RemoveImage.afterRecord"); // what the record held is collected at the next start
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
     * Snapshots that containers have mounted (their rootfs lower dirs): collection keeps them even when no image
     * references them any longer (an image removed while its containers still run).
     */
    public void snapshotsInUse(java.util.function.Supplier<Set<Digest>> inUse) {
        this.snapshotsInUse = inUse;
    }

    /**
     * Removes blobs and snapshots no image references, and partial downloads by the rule of
     * {@link ContentStore#pruneIdleIngests}. Exclusive with pulls: what a pull in flight has stored but not yet
     * recorded is never collected.
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
            chains.addAll(snapshotsInUse.get());
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
            int ingests = content.pruneIdleIngests(clock.instant());
            if (ingests > 0) {
                LOG.debug("collected partial downloads", "count", ingests);
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
