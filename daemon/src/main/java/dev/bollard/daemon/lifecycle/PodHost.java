package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.linux.Cgroups;
import dev.bollard.daemon.linux.MountInfo;
import dev.bollard.daemon.linux.Syscalls;
import dev.bollard.daemon.network.Cni;
import dev.bollard.daemon.network.NetNs;
import dev.bollard.daemon.network.PodNetworkRequest;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * What a pod takes from the node besides its shim: a network namespace and its CNI attachment, a tmpfs for
 * /dev/shm, a cgroup parent, file ownership. {@link #linux} is the real node; unit tests of the lifecycle use a fake
 * that needs no root.
 */
public interface PodHost {

    void createNetns(Path pin) throws IOException;

    /** Pins the network namespace {@code nsFile} (of a process) at {@code pin}. */
    void pinNetns(Path pin, Path nsFile) throws IOException;

    void removeNetns(Path pin) throws IOException;

    /** CNI ADD; returns the pod's IPs, primary first. */
    List<String> networkUp(PodNetworkRequest request) throws IOException, InterruptedException;

    /** CNI DEL (idempotent). */
    void networkDown(PodNetworkRequest request) throws IOException, InterruptedException;

    void mountShm(Path dir, String options) throws IOException;

    /** Detaches a mount made here. */
    void unmount(Path dir) throws IOException;

    /** Unmounts whatever is mounted at or below {@code dir}; returns what was. */
    List<Path> unmountBelow(Path dir) throws IOException;

    boolean cgroupExists(String cgroupPath);

    /** Removes the cgroup in every hierarchy; returns the directories left (still in use). */
    List<Path> removeCgroup(String cgroupPath);

    void removeCgroupIfEmpty(String cgroupPath);

    void chown(Path file, int uid, int gid) throws IOException;

    static PodHost linux(Cni cni) {
        return new PodHost() {
            @Override
            public void createNetns(Path pin) throws IOException {
                NetNs.create(pin);
            }

            @Override
            public void pinNetns(Path pin, Path nsFile) throws IOException {
                NetNs.pin(pin, nsFile);
            }

            @Override
            public void removeNetns(Path pin) throws IOException {
                NetNs.at(pin).remove();
            }

            @Override
            public List<String> networkUp(PodNetworkRequest request) throws IOException, InterruptedException {
                return cni.setUp(request).ips();
            }

            @Override
            public void networkDown(PodNetworkRequest request) throws IOException, InterruptedException {
                cni.tearDown(request);
            }

            @Override
            public void mountShm(Path dir, String options) throws IOException {
                Syscalls.mount("shm", dir, "tmpfs", Syscalls.MS_NOSUID | Syscalls.MS_NODEV | Syscalls.MS_NOEXEC,
                        options);
            }

            @Override
            public void unmount(Path dir) throws IOException {
                Syscalls.umount2(dir, Syscalls.MNT_DETACH);
            }

            @Override
            public List<Path> unmountBelow(Path dir) throws IOException {
                return MountInfo.unmountBelow(dir);
            }

            @Override
            public boolean cgroupExists(String cgroupPath) {
                return Cgroups.exists(cgroupPath);
            }

            @Override
            public List<Path> removeCgroup(String cgroupPath) {
                return Cgroups.remove(cgroupPath);
            }

            @Override
            public void removeCgroupIfEmpty(String cgroupPath) {
                Cgroups.removeIfEmpty(cgroupPath);
            }

            @Override
            public void chown(Path file, int uid, int gid) throws IOException {
                Syscalls.lchown(file, uid, gid);
            }
        };
    }
}
