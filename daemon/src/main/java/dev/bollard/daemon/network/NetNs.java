package dev.bollard.daemon.network;

import dev.bollard.daemon.linux.Syscalls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * A pinned network namespace: a file bind-mounted from nsfs, so that the namespace outlives every process in it and
 * CNI plugins and the OCI runtime can join it by path.
 */
public final class NetNs {

    private static final Path OWN_THREAD_NETNS = Path.of("/proc/thread-self/ns/net");

    private final Path path;

    private NetNs(Path path) {
        this.path = path.toAbsolutePath().normalize();
    }

    /**
     * Creates a new network namespace pinned at {@code path}; parent directories are created. The path must not
     * exist or be an empty regular file (a leftover of a crash between create and mount). Only {@code lo} exists
     * inside, down: the loopback CNI plugin brings it up.
     */
    public static NetNs create(Path path) throws IOException {
        var ns = new NetNs(path);
        Path p = ns.path;
        Files.createDirectories(p.getParent());
        boolean createdFile = false;
        if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) || Files.size(p) != 0 || ns.exists()) {
                throw new IOException("cannot create a network namespace at " + p + ": the path exists"
                        + (ns.exists() ? " and is already a pinned namespace" : " and is not an empty file"));
            }
        } else {
            Files.createFile(p);
            createdFile = true;
        }
        try {
            // A fresh platform thread: the new namespace belongs to its OS thread alone, and the thread ends
            // afterwards, so no pooled thread is ever left in the wrong namespace.
            onOwnThread("netns-create", () -> {
                Syscalls.unshare(Syscalls.CLONE_NEWNET);
                Syscalls.mount(OWN_THREAD_NETNS.toString(), p, null, Syscalls.MS_BIND, null);
                return null;
            });
        } catch (Exception e) {
            if (createdFile) {
                Files.deleteIfExists(p);
            }
            if (e instanceof IOException io) {
                throw new IOException("cannot create a network namespace at " + p + ": " + io.getMessage(), io);
            }
            throw new IOException("cannot create a network namespace at " + p, e);
        }
        return ns;
    }

    /**
     * Pins a network namespace a process made (e.g. {@code /proc/PID/ns/net} of a pod's infra process, which made
     * it inside the pod's user namespace) at {@code path}, which must not exist; parent directories are created.
     */
    public static NetNs pin(Path path, Path nsFile) throws IOException {
        var ns = new NetNs(path);
        Files.createDirectories(ns.path.getParent());
        Files.createFile(ns.path);
        try {
            Syscalls.mount(nsFile.toString(), ns.path, null, Syscalls.MS_BIND, null);
        } catch (IOException e) {
            Files.deleteIfExists(ns.path);
            throw new IOException("cannot pin the network namespace " + nsFile + " at " + ns.path + ": "
                    + e.getMessage(), e);
        }
        return ns;
    }

    /** An existing pinned namespace (or where one was); nothing is checked. */
    public static NetNs at(Path path) {
        return new NetNs(path);
    }

    public Path path() {
        return path;
    }

    /**
     * Whether the path is still an nsfs mount point (pinned). statfs, not mountinfo: the stats collector asks this
     * for every pod on every tick, and mountinfo grows with every container's rootfs.
     */
    public boolean exists() {
        try {
            return Syscalls.statfsType(path) == Syscalls.NSFS_MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Runs {@code body} on a new platform thread that has joined this namespace; the thread ends afterwards. Sockets
     * the body creates stay in this namespace when used from other threads later. Note that Java creates a socket's
     * file descriptor lazily: a {@code new ServerSocket()} must also be bound (or connected) inside the body.
     */
    public <T> T run(Callable<T> body) throws Exception {
        if (!exists()) {
            throw new IOException("network namespace " + path + " is not pinned (no nsfs mount there)");
        }
        return onOwnThread("netns-run", () -> {
            Syscalls.setns(path, Syscalls.CLONE_NEWNET);
            return body.call();
        });
    }

    /** Unmounts (lazily, so open handles do not block it) and deletes the file; a missing one is fine. */
    public void remove() throws IOException {
        // Several mounts may be stacked if create raced with itself; unmount until it is a plain file.
        for (int i = 0; i < 8 && exists(); i++) {
            try {
                Syscalls.umount2(path, Syscalls.MNT_DETACH);
            } catch (Syscalls.ErrnoException e) {
                if (e.errno() == Syscalls.ENOENT || e.errno() == Syscalls.EINVAL) {
                    break;
                }
                throw new IOException("cannot unmount network namespace " + path + ": " + e.getMessage(), e);
            }
        }
        try {
            Files.deleteIfExists(path);
        } catch (NoSuchFileException e) {
            // removed concurrently: fine
        }
    }

    @Override
    public String toString() {
        return "netns " + path;
    }

    private static <T> T onOwnThread(String name, Callable<T> body) throws Exception {
        var task = new FutureTask<>(body);
        Thread t = Thread.ofPlatform().name(name).daemon().start(task);
        try {
            return task.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } catch (InterruptedException e) {
            t.join();
            throw e;
        }
    }
}
