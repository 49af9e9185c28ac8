package dev.bollard.daemon.shim;

import java.time.Instant;

/**
 * How a process ended.
 *
 * @param pid        its pid on the host (0 when the shim did not say)
 * @param exitStatus the exit code, or 128 + signal for a process killed by a signal (137 = SIGKILL)
 * @param exitedAt   when; {@link Instant#EPOCH} when the shim did not say
 */
public record ExitInfo(int pid, int exitStatus, Instant exitedAt) {
}
