package dev.bollard.vm;

import com.google.gson.JsonObject;

/**
 * The size of a pod's VM, as Kata sizes a sandbox statically: the configured base (vCPUs, MiB) plus what the pod
 * asks for, read from the sandbox container's annotations when the VM boots. The pod's share is its total CPU
 * and memory limit ({@code LinuxPodSandboxConfig.resources}, the {@code io.kubernetes.cri.sandbox-cpu-quota}/
 * {@code -cpu-period}/{@code -memory} annotations containerd and Bollard write) and the RuntimeClass overhead
 * ({@code LinuxPodSandboxConfig.overhead}, which Bollard annotates as {@code dev.bollard.sandbox-overhead-*}). CPU
 * quotas round up to whole vCPUs; vCPUs stop at the node's CPUs (more would only contend), never below the base.
 */
record VmSizing(int cpus, int memoryMb) {

    static final String CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";
    static final String CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
    static final String MEMORY = "io.kubernetes.cri.sandbox-memory";
    static final String OVERHEAD_CPU_PERIOD = "dev.bollard.sandbox-overhead-cpu-period";
    static final String OVERHEAD_CPU_QUOTA = "dev.bollard.sandbox-overhead-cpu-quota";
    static final String OVERHEAD_MEMORY = "dev.bollard.sandbox-overhead-memory";

    private static final long MIB = 1024 * 1024;

    static VmSizing of(int baseCpus, int baseMemoryMb, JsonObject annotations, int hostCpus) {
        long cpus = baseCpus
                + wholeCpus(number(annotations, CPU_QUOTA), number(annotations, CPU_PERIOD))
                + wholeCpus(number(annotations, OVERHEAD_CPU_QUOTA), number(annotations, OVERHEAD_CPU_PERIOD));
        cpus = Math.max(baseCpus, Math.min(cpus, hostCpus));
        long memory = baseMemoryMb + mebibytes(number(annotations, MEMORY)) + mebibytes(number(annotations, OVERHEAD_MEMORY));
        return new VmSizing(Math.toIntExact(cpus), Math.toIntExact(Math.min(memory, Integer.MAX_VALUE)));
    }

    /** A CFS quota over its period in whole CPUs, rounded up; none without a quota (-1 or 0: unlimited). */
    private static long wholeCpus(long quota, long period) {
        if (quota <= 0 || period <= 0) {
            return 0;
        }
        return Math.ceilDiv(quota, period);
    }

    private static long mebibytes(long bytes) {
        return bytes <= 0 ? 0 : Math.ceilDiv(bytes, MIB);
    }

    /** An annotation's number; 0 when it is missing or not a number (a pod without limits). */
    private static long number(JsonObject annotations, String key) {
        if (annotations == null || !annotations.has(key)) {
            return 0;
        }
        try {
            return Long.parseLong(annotations.get(key).getAsString().strip());
        } catch (RuntimeException e) {
            return 0;
        }
    }
}
