package dev.bollard.daemon.oci;

import dev.bollard.api.cri.v1.PodSandboxConfig;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Files and namespaces the sandbox manager prepared for the pod.
 *
 * @param netnsPath     the pod's network namespace; empty = host network
 * @param infraPid      the sandbox container's pid, 0 while creating the sandbox itself
 * @param shmPath       the pod's /dev/shm tmpfs on the host; empty when host IPC
 * @param cgroupParent  the pod cgroup: a cgroupfs path like /kubepods/pod&lt;uid&gt; or a systemd slice
 */
public record PodContext(String sandboxId, PodSandboxConfig config,
                         Optional<Path> netnsPath, int infraPid,
                         Path hostnameFile, Path hostsFile, Path resolvConfFile, Optional<Path> shmPath,
                         String cgroupParent, String runtimeHandler, String sandboxImage) {
}
