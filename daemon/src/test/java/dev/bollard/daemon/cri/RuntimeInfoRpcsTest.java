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

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
