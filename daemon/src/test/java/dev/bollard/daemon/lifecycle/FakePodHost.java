package dev.bollard.daemon.lifecycle;

import dev.bollard.daemon.network.PodNetworkRequest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The node as a pod sees it, in memory: what is live (netns pins, network attachments, /dev/shm mounts, cgroups) is
 * kept in sets, so a test can check that nothing outlives a rollback; any step can be made to fail.
 */
final class FakePodHost implements PodHost {

    final Set<Path> netns = ConcurrentHashMap.newKeySet();
    final Set<String> attached = ConcurrentHashMap.newKeySet();
    final Set<Path> shm = ConcurrentHashMap.newKeySet();
    final Set<String> cgroupsRemoved = ConcurrentHashMap.newKeySet();
    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    /** Steps (createNetns, networkUp, mountShm, …) that throw IOException. */
    final Set<String> failing = ConcurrentHashMap.newKeySet();
    List<String> ips = List.of("10.88.0.7");

    private void step(String name) throws IOException {
        calls.add(name);
        if (failing.contains(name)) {
            throw new IOException("fake host: " + name + " failed");
        }
    }

    boolean clean() {
        return netns.isEmpty() && attached.isEmpty() && shm.isEmpty();
    }

    @Override
    public void createNetns(Path pin) throws IOException {
        step("createNetns");
        Files.createFile(pin); // the leak scan and the stop look for the pin
        netns.add(pin);
    }

    @Override
    public void pinNetns(Path pin, Path nsFile) throws IOException {
        step("pinNetns");
        Files.createFile(pin);
        netns.add(pin);
    }

    @Override
    public void removeNetns(Path pin) throws IOException {
        step("removeNetns");
        Files.deleteIfExists(pin);
        netns.remove(pin);
    }

    @Override
    public List<String> networkUp(PodNetworkRequest request) throws IOException {
        step("networkUp");
        attached.add(request.podId());
        return ips;
    }

    @Override
    public void networkDown(PodNetworkRequest request) throws IOException {
        step("networkDown");
        attached.remove(request.podId());
    }

    @Override
    public void mountShm(Path dir, String options) throws IOException {
        step("mountShm");
        shm.add(dir);
    }

    @Override
    public void unmount(Path dir) throws IOException {
        step("unmount");
        shm.remove(dir);
    }

    @Override
    public List<Path> unmountBelow(Path dir) {
        calls.add("unmountBelow");
        var gone = shm.stream().filter(p -> p.startsWith(dir)).toList();
        gone.forEach(shm::remove);
        return gone;
    }

    @Override
    public boolean cgroupExists(String cgroupPath) {
        return false;
    }

    @Override
    public List<Path> removeCgroup(String cgroupPath) {
        cgroupsRemoved.add(cgroupPath);
        return List.of();
    }

    @Override
    public void removeCgroupIfEmpty(String cgroupPath) {
        calls.add("removeCgroupIfEmpty");
    }

    @Override
    public void chown(Path file, int uid, int gid) {
        calls.add("chown");
    }
}
