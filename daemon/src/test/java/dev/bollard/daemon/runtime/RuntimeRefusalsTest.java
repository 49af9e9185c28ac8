package dev.bollard.daemon.runtime;

import dev.bollard.daemon.shim.ShimException;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RuntimeRefusalsTest {

    private static IOException shim(Status.Code code, String message) {
        return new IOException("start task x", new ShimException(code, "create task x", message, null));
    }

    @Test
    void kernelRefusalsOfValuesAreInvalidArguments() {
        for (String m : new String[]{
                "OCI runtime update failed: failed to write \"500\": write /sys/fs/cgroup/cpu,cpuacct/bollard/x/cpu.cfs_quota_us: invalid argument: unknown",
                "OCI runtime create failed: runc create failed: unable to start container process: error during container init: sethostname: invalid argument",
                "failed to write \"64\": write /sys/fs/cgroup/cpuset/x/cpuset.cpus: numerical result out of range"}) {
            var s = RuntimeRefusals.classify(shim(Status.Code.UNKNOWN, m), "updating c").orElseThrow().getStatus();
            assertEquals(Status.Code.INVALID_ARGUMENT, s.getCode(), m);
            assertTrue(s.getDescription().startsWith("updating c: the runtime refused a value: "), s.getDescription());
        }
    }

    @Test
    void aMemoryLimitBelowUsageIsAFailedPrecondition() {
        var s = RuntimeRefusals.classify(shim(Status.Code.UNKNOWN, "OCI runtime update failed: unable to set memory "
                + "limit to 4096 (current usage: 352256, peak usage: 667648): unknown"), "u").orElseThrow().getStatus();
        assertEquals(Status.Code.FAILED_PRECONDITION, s.getCode());
    }

    @Test
    void otherFailuresStayTheRuntimes() {
        assertTrue(RuntimeRefusals.classify(shim(Status.Code.UNKNOWN,
                "mount /proc: invalid argument: but no value we were given"), "x").isEmpty());
        assertTrue(RuntimeRefusals.classify(shim(Status.Code.NOT_FOUND, "cgroup: invalid argument"), "x").isEmpty());
        assertTrue(RuntimeRefusals.classify(new IOException("cgroup: invalid argument"), "x").isEmpty());
    }
}
