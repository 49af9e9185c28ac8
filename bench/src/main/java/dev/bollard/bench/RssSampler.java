package dev.bollard.bench;

import java.util.concurrent.TimeUnit;

/** Samples a process's VmRSS at a fixed interval on its own thread; {@link #stop} returns the peak seen. */
final class RssSampler implements AutoCloseable {

    private final long pid;
    private final long intervalMillis;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile long peak;
    private volatile int samples;

    RssSampler(long pid, long intervalMillis) {
        this.pid = pid;
        this.intervalMillis = intervalMillis;
        this.peak = Proc.rssBytes(pid);
        this.thread = Thread.ofPlatform().daemon().name("rss-sampler-" + pid).start(this::loop);
    }

    private void loop() {
        long next = System.nanoTime();
        while (running) {
            long rss = Proc.rssBytes(pid);
            if (rss > peak) {
                peak = rss;
            }
            samples++;
            next += TimeUnit.MILLISECONDS.toNanos(intervalMillis);
            long sleep = next - System.nanoTime();
            if (sleep > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(sleep);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    /** Stops sampling (after one last sample) and returns the peak RSS in bytes. */
    long stop() {
        running = false;
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        long rss = Proc.rssBytes(pid);
        return Math.max(peak, rss);
    }

    int samples() {
        return samples;
    }

    @Override
    public void close() {
        running = false;
    }
}
