package dev.bollard.daemon.log;

import dev.bollard.daemon.config.BollardConfig.LogFormat;
import dev.bollard.daemon.config.BollardConfig.LogLevel;

import java.io.PrintStream;
import java.time.Instant;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;

/**
 * Bollard's structured logger: one line per event, as logfmt ({@code time=… level=info logger=cri msg="…" k=v})
 * or as a JSON object. Deliberately tiny: the daemon's start-up time and footprint matter more than appenders.
 * java.util.logging (what gRPC and Netty log through) is bridged into it.
 */
public final class Log {

    private static volatile LogLevel threshold = LogLevel.INFO;
    private static volatile LogFormat format = LogFormat.TEXT;
    private static volatile PrintStream out = System.err;

    private final String name;

    private Log(String name) {
        this.name = name;
    }

    public static Log get(String name) {
        return new Log(name);
    }

    /** Sets level and format for the whole process and routes java.util.logging here. */
    public static void configure(LogLevel level, LogFormat logFormat) {
        threshold = level;
        format = logFormat;
        bridgeJul(level);
    }

    /** Redirects output; tests use it to capture lines. */
    static void output(PrintStream stream) {
        out = stream;
    }

    public boolean isDebug() {
        return enabled(LogLevel.DEBUG);
    }

    public void debug(String msg, Object... keyValues) {
        log(LogLevel.DEBUG, msg, null, keyValues);
    }

    public void info(String msg, Object... keyValues) {
        log(LogLevel.INFO, msg, null, keyValues);
    }

    public void warn(String msg, Object... keyValues) {
        log(LogLevel.WARN, msg, null, keyValues);
    }

    public void error(String msg, Throwable cause, Object... keyValues) {
        log(LogLevel.ERROR, msg, cause, keyValues);
    }

    private static boolean enabled(LogLevel level) {
        return level.ordinal() >= threshold.ordinal();
    }

    void log(LogLevel level, String msg, Throwable cause, Object... keyValues) {
        if (!enabled(level)) {
            return;
        }
        String line = format == LogFormat.JSON
                ? LineFormat.json(Instant.now(), level, name, msg, cause, keyValues)
                : LineFormat.logfmt(Instant.now(), level, name, msg, cause, keyValues);
        out.println(line);
    }

    /**
     * gRPC sets SO_KEEPALIVE on every channel, which Netty's UNIX domain socket channels do not have; Netty warns
     * about it once per connection. Harmless, and noise on every CRI connection, so it is silenced.
     */
    public static void quietNettyBootstrap() {
        NettyBootstrapLogger.LOGGER.setLevel(Level.SEVERE);
    }

    /**
     * Held strongly: java.util.logging forgets the level of a logger nobody references. In a holder of its own, so
     * that the first Log does not start java.util.logging (its start searches every jar of the class path for a
     * backend: tens of ms, done on StartupWarmUp's thread during a daemon start).
     */
    private static final class NettyBootstrapLogger {
        static final java.util.logging.Logger LOGGER = java.util.logging.Logger.getLogger("io.netty.bootstrap");
    }

    private static void bridgeJul(LogLevel level) {
        var root = LogManager.getLogManager().getLogger("");
        for (Handler h : root.getHandlers()) {
            root.removeHandler(h);
        }
        // gRPC and Netty are chatty below WARNING (their debug output drowns ours), so they stay at WARNING.
        root.setLevel(level == LogLevel.ERROR ? Level.SEVERE : Level.WARNING);
        quietNettyBootstrap();
        root.addHandler(new Handler() {
            @Override
            public void publish(LogRecord record) {
                var lvl = record.getLevel().intValue() >= Level.SEVERE.intValue() ? LogLevel.ERROR
                        : record.getLevel().intValue() >= Level.WARNING.intValue() ? LogLevel.WARN
                        : record.getLevel().intValue() >= Level.INFO.intValue() ? LogLevel.INFO : LogLevel.DEBUG;
                String msg = record.getMessage();
                if (record.getParameters() != null && msg != null && msg.contains("{0")) {
                    msg = java.text.MessageFormat.format(msg, record.getParameters());
                }
                get(record.getLoggerName() == null ? "jul" : record.getLoggerName()).log(lvl, msg, record.getThrown());
            }

            @Override
            public void flush() {
                out.flush();
            }

            @Override
            public void close() {
            }
        });
    }
}
