package dev.bollard.vm;

import dev.bollard.vm.PodNetwork.Route;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PodNetworkTest {

    /** {@code ip -j -4 route show dev eth0} of a netns with these routes (captured from iproute2 on this node). */
    private static final String IP_ROUTE = """
            [{"dst":"default","gateway":"10.99.0.1","flags":[]},\
            {"dst":"10.98.0.0/16","scope":"link","metric":50,"flags":[]},\
            {"dst":"10.99.0.0/24","protocol":"kernel","scope":"link","prefsrc":"10.99.0.5","flags":[]},\
            {"dst":"10.200.0.0/16","gateway":"169.254.1.1","prefsrc":"10.99.0.5","flags":["onlink"]},\
            {"dst":"10.201.0.0/16","gateway":"10.99.0.1","metric":7,"flags":[]},\
            {"type":"blackhole","dst":"10.7.0.0/16","flags":[]}]""";

    @Test
    void everyRouteButTheKernelsOwnIsCopiedLinkRoutesFirst() {
        assertEquals(List.of(
                new Route("10.98.0.0/16", "", 50, "", false),
                new Route("default", "10.99.0.1", 0, "", false),
                new Route("10.200.0.0/16", "169.254.1.1", 0, "10.99.0.5", true),
                new Route("10.201.0.0/16", "10.99.0.1", 7, "", false)), PodNetwork.routes(IP_ROUTE));
    }

    @Test
    void theRoutesBecomeKernelArgumentsInOrder() {
        var network = new PodNetwork(Path.of("/run/netns/x"), "eth0", "10.99.0.5/24", PodNetwork.routes(IP_ROUTE),
                "02:00:00:00:00:01");
        assertEquals("bollard.ip=10.99.0.5/24 bollard.route=10.98.0.0/16,metric=50"
                + " bollard.route=default,via=10.99.0.1"
                + " bollard.route=10.200.0.0/16,via=169.254.1.1,src=10.99.0.5,onlink"
                + " bollard.route=10.201.0.0/16,via=10.99.0.1,metric=7", network.kernelArgs());
    }

    @Test
    void aPodWithoutRoutesGetsOnlyItsAddress() {
        assertEquals("bollard.ip=10.88.0.5/16", new PodNetwork(Path.of("/n"), "eth0", "10.88.0.5/16",
                PodNetwork.routes("[]"), "02:00:00:00:00:01").kernelArgs());
    }

    @Test
    void whatTheGuestCouldNotTakeIsRefused() {
        // Anything but IPv4 text would break the kernel command line's words or /init's parsing.
        var bad = assertThrows(IllegalArgumentException.class,
                () -> PodNetwork.routes("[{\"dst\":\"10.0.0.0/8 evil\",\"flags\":[]}]"));
        assertTrue(bad.getMessage().contains("10.0.0.0/8 evil"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Route("default", "fe80::1", 0, "", false));
        assertThrows(IllegalArgumentException.class, () -> new Route("default", "10.0.0.1", -1, "", false));
        assertThrows(IllegalArgumentException.class, () -> new Route("default", "", 0, "10.0.0.1,x", false));
    }
}
