package dev.bollard.daemon.runtime;

import dev.bollard.daemon.shim.ShimException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.io.IOException;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The OCI runtime's refusals of values the caller chose, told apart from runtime failures. The shim passes runc's
 * (or crun's) error text on with code UNKNOWN; a value the kernel refuses when runc writes it (a CPU quota below
 * 1 ms: EINVAL from {@code cpu.cfs_quota_us}; a CPU set the node lacks: ERANGE or EINVAL from {@code cpuset.cpus};
 * a hostname the kernel refuses) is the caller's error, INVALID_ARGUMENT; a memory limit below what the container
 * already uses (EBUSY from {@code memory.limit_in_bytes}) is valid in itself but not now, FAILED_PRECONDITION.
 * Anything else stays the runtime's failure.
 */
public final class RuntimeRefusals {

    /** A cgroup file runc writes a resource value into, or a value-setting syscall. */
    private static final Pattern VALUE_TARGET = Pattern.compile(
            "cgroup|cfs_quota|cfs_period|cpu\\.max|cpu\\.shares|cpu\\.weight|cpuset\\.|memory\\.|pids\\.|hugetlb\\."
                    + "|blkio\\.|io\\.|rt_runtime|rt_period|sethostname|setrlimit|sysctl");

    private RuntimeRefusals() {
    }

    /**
     * {@code failure}, when it carries a runtime's refusal of a value, as the status it deserves, naming
     * {@code what} was asked and the runtime's own words; empty otherwise.
     */
    public static Optional<StatusRuntimeException> classify(IOException failure, String what) {
        ShimException shim = null;
        for (Throwable t = failure; t != null && shim == null; t = t.getCause()) {
            if (t instanceof ShimException s) {
                shim = s;
            }
        }
        if (shim == null || shim.code() != Status.Code.UNKNOWN) {
            return Optional.empty();
        }
        String text = shim.statusMessage();
        String lower = text.toLowerCase(Locale.ROOT);
        Status status = null;
        if (lower.contains("unable to set memory limit") || lower.contains("device or resource busy")
                && lower.contains("memory")) {
            status = Status.FAILED_PRECONDITION.withDescription(what + ": the memory limit is below what the "
                    + "container already uses; the runtime said: " + text);
        } else if ((lower.contains("invalid argument") || lower.contains("numerical result out of range"))
                && VALUE_TARGET.matcher(lower).find()) {
            status = Status.INVALID_ARGUMENT.withDescription(what + ": the runtime refused a value: " + text);
        }
        return Optional.ofNullable(status).map(s -> s.withCause(failure).asRuntimeException());
    }
}
