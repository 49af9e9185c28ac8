package dev.bollard.daemon.log;

import dev.bollard.daemon.config.BollardConfig.LogLevel;
import org.junit.jupiter.api.Test;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;

class LineFormatTest {

    private static final Instant T = Instant.parse("2026-11-22T08:00:00Z");

    @Test
    void logfmtQuotesOnlyWhatNeedsIt() {
        assertEquals("time=2026-11-22T08:00:00Z level=debug logger=cri msg=\"cri call\" method=runtime.v1.RuntimeService/Version"
                        + " latency=0.412ms error=\"\"",
                LineFormat.logfmt(T, LogLevel.DEBUG, "cri", "cri call", null,
                        "method", "runtime.v1.RuntimeService/Version", "latency", "0.412ms", "error", ""));
        assertEquals("time=2026-11-22T08:00:00Z level=warn logger=x msg=\"a=b \\\"q\\\"\\nnext\"",
                LineFormat.logfmt(T, LogLevel.WARN, "x", "a=b \"q\"\nnext", null));
    }

    @Test
    void jsonKeepsNumbersAndEscapesStrings() {
        assertEquals("{\"time\":\"2026-11-22T08:00:00Z\",\"level\":\"info\",\"logger\":\"daemon\",\"msg\":\"ready\","
                        + "\"startupMillis\":412,\"socket\":\"/run/b\\\\x\",\"ctl\":\"\\u0001\"}",
                LineFormat.json(T, LogLevel.INFO, "daemon", "ready", null, "startupMillis", 412L, "socket", "/run/b\\x",
                        "ctl", "\u0001"));
    }
}
