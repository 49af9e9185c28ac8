package dev.bollard.cli;

import dev.bollard.api.cri.v1.ContainerState;
import dev.bollard.api.cri.v1.ContainerStatus;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeParseException;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * crictl logs: reads the container's log file itself (the path from ContainerStatus.log_path; the CLI runs on
 * the node), stdout lines to stdout and stderr lines to stderr.
 */
@Command(name = "logs", mixinStandardHelpOptions = true, description = "Fetch the logs of a container.")
final class LogsCommand extends ClientCommand implements Callable<Integer> {

    private static final Pattern GO_DURATION_PART = Pattern.compile("(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|µs|ms|s|m|h)");

    @Parameters(paramLabel = "CONTAINER-ID")
    String id;

    @Option(names = {"-f", "--follow"}, description = "Follow log output (until the container stops running).")
    boolean follow;

    @Option(names = "--tail", paramLabel = "N", defaultValue = "-1",
            description = "Number of lines to show from the end of the logs (default: all).")
    long tail;

    @Option(names = {"-t", "--timestamps"}, description = "Show timestamps.")
    boolean timestamps;

    @Option(names = "--since", paramLabel = "TIME",
            description = "Show logs since a timestamp (2013-01-02T13:23:37, RFC 3339, Unix seconds) or a duration ago (42m, 1h30m).")
    String since;

    @Option(names = {"-p", "--previous"}, description = "The logs of the previous instance of the container (attempt - 1).")
    boolean previous;

    @Option(names = {"-s", "--stream"}, paramLabel = "stdout|stderr", description = "Only this stream (default: both).")
    String stream;

    @Override
    public Integer call() throws Exception {
        if (stream != null && !stream.equals("stdout") && !stream.equals("stderr")) {
            throw new CliException("invalid stream \"" + stream + "\", must be \"stdout\" or \"stderr\"");
        }
        var options = new CriLog.Options(since == null ? null : parseSince(since, Instant.now(), ZoneId.systemDefault()), tail);
        var main = main();
        try (var client = new CriClient(main.endpoint(), main.timeoutSeconds)) {
            ContainerStatus status = ContainerCommands.status(client, id);
            if (status.getLogPath().isEmpty()) {
                throw new CliException("container " + id + " has no log path");
            }
            Path log = Path.of(status.getLogPath());
            if (previous) {
                log = previousLog(log, status.getMetadata().getAttempt(), status.getMetadata().getName());
            }
            var joiner = new CriLog.Joiner();
            CriLog.Sink sink = line -> write(line, System.out, System.err);
            long offset;
            try {
                offset = CriLog.readAll(log, options, joiner, sink);
            } catch (NoSuchFileException e) {
                throw new CliException("log file " + log + " of container " + id + " does not exist");
            }
            if (follow && !previous && status.getState() == ContainerState.CONTAINER_RUNNING) {
                CriLog.follow(log, offset, options, joiner, sink, new StillRunning(client, id), 200);
            }
            System.out.flush();
            System.err.flush();
            if (joiner.malformed() > 0) {
                spec.commandLine().getErr().println("bollard: skipped " + joiner.malformed()
                        + " line(s) of " + log + " not in the CRI log format");
            }
        }
        return 0;
    }

    private void write(CriLog.Line line, PrintStream out, PrintStream err) {
        PrintStream target = line.stream() == CriLog.Stream.STDOUT ? out : err;
        if (stream != null && !stream.equals(line.stream() == CriLog.Stream.STDOUT ? "stdout" : "stderr")) {
            return;
        }
        if (timestamps) {
            target.write(line.timestamp().getBytes(StandardCharsets.US_ASCII), 0, line.timestamp().length());
            target.write(' ');
        }
        target.write(line.content(), 0, line.content().length);
        target.write('\n');
        if (follow) {
            target.flush();
        }
    }

    /** Kubelet names each attempt's log {@code <attempt>.log} in the container's log directory. */
    static Path previousLog(Path log, int attempt, String name) {
        if (attempt == 0) {
            throw new CliException("previous terminated container " + name + " not found");
        }
        String file = log.getFileName().toString();
        int dot = file.lastIndexOf('.');
        String ext = dot < 0 ? "" : file.substring(dot);
        return log.resolveSibling(Integer.toUnsignedString(attempt - 1) + ext);
    }

    /** Polls the container's state, at most about once a second, so following stops soon after it exits. */
    private static final class StillRunning implements java.util.function.BooleanSupplier {
        private final CriClient client;
        private final String id;
        private long checkedAt;
        private boolean running = true;

        StillRunning(CriClient client, String id) {
            this.client = client;
            this.id = id;
        }

        @Override
        public boolean getAsBoolean() {
            long now = System.nanoTime();
            if (now - checkedAt >= 1_000_000_000L) {
                checkedAt = now;
                try {
                    running = ContainerCommands.status(client, id).getState() == ContainerState.CONTAINER_RUNNING;
                } catch (CliException e) {
                    running = false; // removed, or the runtime is gone: nothing more will be written
                }
            }
            return running;
        }
    }

    /**
     * {@code --since} as crictl takes it: a Go duration before now ("42m", "1h30m"), an RFC 3339 time, a local
     * date-time or date, or Unix seconds (with a fraction).
     */
    static Instant parseSince(String value, Instant now, ZoneId zone) {
        String v = value.strip();
        Duration ago = goDuration(v);
        if (ago != null) {
            return now.minus(ago);
        }
        if (v.matches("\\d+(\\.\\d{1,9})?")) {
            var seconds = new BigDecimal(v);
            long whole = seconds.longValue();
            long nanos = seconds.subtract(BigDecimal.valueOf(whole)).movePointRight(9).longValue();
            return Instant.ofEpochSecond(whole, nanos);
        }
        try {
            return OffsetDateTime.parse(v).toInstant();
        } catch (DateTimeParseException ignored) {
            // not RFC 3339 with an offset; try the local forms
        }
        try {
            return LocalDateTime.parse(v).atZone(zone).toInstant();
        } catch (DateTimeParseException ignored) {
            // not a local date-time
        }
        try {
            return LocalDate.parse(v).atStartOfDay(zone).toInstant();
        } catch (DateTimeParseException e) {
            throw new CliException("--since: \"" + value + "\" is neither a duration (42m, 1h30m) nor a timestamp"
                    + " (2013-01-02T13:23:37, RFC 3339, Unix seconds)");
        }
    }

    /** A Go duration string ("1h30m", "1.5s"), or null if it is not one. */
    static Duration goDuration(String v) {
        if (v.isEmpty() || v.equals("0")) {
            return v.isEmpty() ? null : Duration.ZERO;
        }
        Matcher m = GO_DURATION_PART.matcher(v);
        int at = 0;
        BigDecimal nanos = BigDecimal.ZERO;
        while (at < v.length()) {
            if (!m.find(at) || m.start() != at) {
                return null;
            }
            long unit = switch (m.group(2)) {
                case "ns" -> 1L;
                case "us", "µs" -> 1_000L;
                case "ms" -> 1_000_000L;
                case "s" -> 1_000_000_000L;
                case "m" -> 60_000_000_000L;
                default -> 3_600_000_000_000L;
            };
            nanos = nanos.add(new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(unit)));
            at = m.end();
        }
        return Duration.ofNanos(nanos.longValue());
    }
}
