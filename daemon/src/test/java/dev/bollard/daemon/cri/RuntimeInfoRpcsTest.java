package dev.bollard.daemon.cri;

import dev.bollard.api.cri.v1.StatusRequest;
import dev.bollard.daemon.config.ConfigLoader;
import dev.bollard.daemon.linux.CgroupLayout;
import dev.bollard.daemon.network.Cni;
import dev.bollard.daemon.network.CniConfig;
import dev.bollard.daemon.runtime.CgroupDriver;
import dev.bollard.daemon.runtime.PodCidrs;
import dev.bollard.daemon.runtime.RuntimeHandlers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RuntimeInfoRpcsTest {

    @Test
    void theWorkAfterTheFirstStatusRunsOnceWhenThatStatusHasItsAnswer(@TempDir Path dir) throws Exception {
        var config = ConfigLoader.parse("", "t");
        var layout = new CgroupLayout(CgroupLayout.Mode.UNIFIED, List.of(), "/sys/fs/cgroup");
        var cni = new Cni(new CniConfig(Files.createDirectories(dir.resolve("conf")), List.of(dir.resolve("bin")),
                dir.resolve("cache"), Duration.ofSeconds(5)));
        var info = new RuntimeInfoRpcs(config, new RuntimeHandlers(config, CgroupDriver.CGROUPFS, layout,
                dir.resolve("runtimes")), CgroupDriver.CGROUPFS, layout, new PodCidrs(dir.resolve("pod-cidr")), cni);
        var runs = new AtomicInteger();
        var versions = new AtomicInteger();
        info.afterFirstStatus(runs::incrementAndGet);
        info.afterFirstVersion(versions::incrementAndGet);
        assertEquals(0, runs.get(), "nothing at start: a daemon nobody calls spends nothing");
        info.version(dev.bollard.api.cri.v1.VersionRequest.getDefaultInstance());
        assertEquals(0, runs.get(), "Version is no Status");
        assertEquals(1, versions.get());
        info.version(dev.bollard.api.cri.v1.VersionRequest.getDefaultInstance());
        assertEquals(1, versions.get(), "once");
        info.status(StatusRequest.getDefaultInstance());
        assertEquals(1, runs.get());
        info.status(StatusRequest.getDefaultInstance());
        assertEquals(1, runs.get(), "once");
    }

    /**
     * A non-verbose Status answer is sent as the bytes the handler wrote without protobuf's map code: they must be
     * exactly protobuf's own serialization of that answer, and the next answer after a change its own bytes.
     */
    @Test
    void theStatusBytesWrittenByHandAreProtobufsAndAChangeShowsInTheNextAnswer(@TempDir Path dir) throws Exception {
        var config = ConfigLoader.parse("", "t");
        var layout = new CgroupLayout(CgroupLayout.Mode.UNIFIED, List.of(), "/sys/fs/cgroup");
        Path conf = Files.createDirectories(dir.resolve("conf"));
        var cni = new Cni(new CniConfig(conf, List.of(dir.resolve("bin")), dir.resolve("cache"), Duration.ofSeconds(5)));
        var info = new RuntimeInfoRpcs(config, new RuntimeHandlers(config, CgroupDriver.CGROUPFS, layout,
                dir.resolve("runtimes")), CgroupDriver.CGROUPFS, layout, new PodCidrs(dir.resolve("pod-cidr")), cni);

        var first = info.status(StatusRequest.getDefaultInstance());
        assertEquals(0, first.getInfoCount());
        byte[] sent = info.statusBytes.stream(first).readAllBytes();
        assertArrayEquals(first.toByteArray(), sent);
        assertEquals(first, dev.bollard.api.cri.v1.StatusResponse.parseFrom(sent));

        // the network's state changes (a configuration appears, its plugin is missing): the next answer says so
        Files.writeString(conf.resolve("10-test.conflist"), """
                {"cniVersion": "1.0.0", "name": "test", "plugins": [{"type": "no-such-plugin"}]}""");
        var second = info.status(StatusRequest.getDefaultInstance());
        assertNotEquals(first, second, "the CNI change is in the answer");
        byte[] sentNext = info.statusBytes.stream(second).readAllBytes();
        assertArrayEquals(second.toByteArray(), sentNext);
        assertEquals(second, dev.bollard.api.cri.v1.StatusResponse.parseFrom(sentNext));
        assertArrayEquals(first.toByteArray(), info.statusBytes.stream(first).readAllBytes(),
                "an older message is still sent as itself");

        var verbose = info.status(StatusRequest.newBuilder().setVerbose(true).build());
        assertTrue(verbose.getInfoCount() > 0);
        assertEquals(verbose, dev.bollard.api.cri.v1.StatusResponse.parseFrom(info.statusBytes.stream(verbose).readAllBytes()),
                "verbose (with the info map): protobuf's own serialization");
    }
}
