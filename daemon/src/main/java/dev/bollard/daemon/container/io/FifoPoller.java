package dev.bollard.daemon.container.io;

import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.AsynchronousCloseException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One platform thread in epoll_wait for every FIFO of every container, so that the threads that read and write them
 * can be virtual: a blocking read(2) through FFM would pin its carrier for as long as the container is quiet. Each
 * {@link Registration} is armed one-shot by the thread that wants to wait and disarmed by the event, so an fd is
 * only ever watched while somebody waits for it. Registrations are keyed by a unique id, never by fd number, so a
 * late event for a closed fd cannot wake the user of a reused number.
 */
final class FifoPoller {

    private static final Log LOG = Log.get("container.io");
    private static final int CANCELLED = -1;
    private static volatile FifoPoller shared;

    private final int epfd;
    private final ConcurrentHashMap<Long, Registration> registrations = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();

    private FifoPoller(int epfd) {
        this.epfd = epfd;
    }

    /** The process-wide poller, started on first use; its thread is a daemon thread that lives as long as the JVM. */
    static FifoPoller shared() throws IOException {
        FifoPoller p = shared;
        if (p == null) {
            synchronized (FifoPoller.class) {
                p = shared;
                if (p == null) {
                    p = new FifoPoller(Syscalls.epollCreate());
                    Thread.ofPlatform().daemon().name("bollard-fifo-poller").start(p::loop);
                    shared = p;
                }
            }
        }
        return p;
    }

    Registration register(int fd) {
        var r = new Registration(fd, ids.incrementAndGet());
        registrations.put(r.id, r);
        return r;
    }

    private void loop() {
        long[] data = new long[64];
        int[] events = new int[64];
        while (true) {
            int n;
            try {
                n = Syscalls.epollWait(epfd, data, events, -1);
            } catch (IOException e) {
                // Only EBADF/EFAULT/EINVAL are possible, none of which a retry fixes: say so loudly once.
                LOG.error("fifo poller stopped", e);
                return;
            }
            for (int i = 0; i < n; i++) {
                Registration r = registrations.get(data[i]);
                if (r != null) {
                    r.fire(events[i]);
                }
            }
        }
    }

    /** One fd in the epoll set. The owner calls {@link #await} from one thread at a time; any thread may cancel. */
    final class Registration {
        private final int fd;
        private final long id;
        private boolean added;
        private boolean cancelled;
        private CompletableFuture<Integer> pending;

        private Registration(int fd, long id) {
            this.fd = fd;
            this.id = id;
        }

        /**
         * Blocks until the fd reports one of {@code events} (EPOLLHUP and EPOLLERR are always reported) and returns
         * the events seen; throws {@link AsynchronousCloseException} once {@link #cancel()} was called.
         */
        int await(int events) throws IOException {
            CompletableFuture<Integer> wait = new CompletableFuture<>();
            synchronized (this) {
                if (cancelled) {
                    throw new AsynchronousCloseException();
                }
                pending = wait;
                Syscalls.epollCtl(epfd, added ? Syscalls.EPOLL_CTL_MOD : Syscalls.EPOLL_CTL_ADD, fd,
                        events | Syscalls.EPOLLONESHOT, id);
                added = true;
            }
            int seen;
            try {
                seen = wait.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for fd " + fd);
            } catch (ExecutionException e) {
                throw new IllegalStateException(e);
            }
            if (seen == CANCELLED) {
                throw new AsynchronousCloseException();
            }
            return seen;
        }

        private void fire(int events) {
            CompletableFuture<Integer> wait;
            synchronized (this) {
                wait = pending;
                pending = null;
            }
            if (wait != null) {
                wait.complete(events);
            }
        }

        /** Wakes a waiter (now or later) with {@link AsynchronousCloseException}. */
        void cancel() {
            CompletableFuture<Integer> wait;
            synchronized (this) {
                cancelled = true;
                wait = pending;
                pending = null;
            }
            if (wait != null) {
                wait.complete(CANCELLED);
            }
        }

        /** Removes the fd from the epoll set; call before closing it (a closed fd would linger while dup'ed). */
        void deregister() {
            cancel();
            synchronized (this) {
                if (added) {
                    added = false;
                    try {
                        Syscalls.epollCtl(epfd, Syscalls.EPOLL_CTL_DEL, fd, 0, id);
                    } catch (IOException e) {
                        LOG.warn("could not remove fd from the fifo poller", "fd", fd, "error", e.getMessage());
                    }
                }
            }
            registrations.remove(id);
        }
    }
}
