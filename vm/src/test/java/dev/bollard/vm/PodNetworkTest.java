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

    /** {@code ip -j -6 route show dev d0} of a netns with these routes (captured from iproute2 on this node). */
    private static final String IP6_ROUTE = """
            [{"dst":"2001:db8::/32","gateway":"fe80::1","metric":1024,"flags":["onlink"],"pref":"medium"},\
            {"dst":"fd00:10:99::/64","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},\
            {"dst":"fd00:20::/48","gateway":"fd00:10:99::1","metric":7,"flags":[],"pref":"medium"},\
            {"dst":"fd00:30::/48","metric":50,"flags":[],"pref":"medium"},\
            {"dst":"fe80::/64","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},\
            {"dst":"2001:db8:1::/48","protocol":"ra","gateway":"fe80::1","metric":1024,"flags":[],"pref":"medium"},\
            {"type":"blackhole","dst":"fd00:40::/48","metric":1024,"flags":[],"pref":"medium"},\
            {"dst":"default","gateway":"fd00:10:99::1","metric":1024,"flags":[],"pref":"medium"}]""";

    /** {@code ip -j addr show} of that netns: lo, then the interface with an IPv4, a global and a link-local IPv6. */
    private static final String IP_ADDR = """
            [{"ifindex":1,"ifname":"lo","address":"00:00:00:00:00:00","addr_info":[\
            {"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"},\
            {"family":"inet6","local":"::1","prefixlen":128,"scope":"host"}]},\
            {"ifindex":3,"link":"d1","ifname":"d0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],\
            "address":"5a:bb:f6:3c:eb:72","addr_info":[\
            {"family":"inet","local":"10.99.0.5","prefixlen":24,"scope":"global","label":"d0"},\
            {"family":"inet6","local":"fd00:10:99::5","prefixlen":64,"scope":"global","nodad":true},\
            {"family":"inet6","local":"fe80::58bb:f6ff:fe3c:eb72","prefixlen":64,"scope":"link"}]}]""";

    @Test
    void theInterfacesGlobalIpv6AddressesAreTakenNotItsLinkLocalOne() {
        var links = com.google.gson.JsonParser.parseString(IP_ADDR).getAsJsonArray();
        assertEquals(java.util.Optional.of(new PodNetwork.Interface("d0", "5a:bb:f6:3c:eb:72", "10.99.0.5/24",
                List.of("fd00:10:99::5/64"))), PodNetwork.interfaceOf(links));
        // IPv6-only: still the pod's interface, without an IPv4 address.
        var only6 = com.google.gson.JsonParser.parseString(IP_ADDR.replace(
                "{\"family\":\"inet\",\"local\":\"10.99.0.5\",\"prefixlen\":24,\"scope\":\"global\",\"label\":\"d0\"},",
                "")).getAsJsonArray();
        assertEquals("", PodNetwork.interfaceOf(only6).orElseThrow().address());
        assertEquals(List.of("fd00:10:99::5/64"), PodNetwork.interfaceOf(only6).orElseThrow().addresses6());
        // Only a link-local address: not a pod interface.
        var linkLocal = com.google.gson.JsonParser.parseString("""
                [{"ifname":"d0","address":"02:00:00:00:00:01","addr_info":[\
                {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]""").getAsJsonArray();
        assertEquals(java.util.Optional.empty(), PodNetwork.interfaceOf(linkLocal));
    }

    @Test
    void everyIpv6RouteButTheKernelsAndRouterAdvertisementsIsCopiedLinkRoutesFirst() {
        assertEquals(List.of(
                new Route("fd00:30::/48", "", 50, "", false, true),
                new Route("2001:db8::/32", "fe80::1", 1024, "", true, true),
                new Route("fd00:20::/48", "fd00:10:99::1", 7, "", false, true),
                new Route("default", "fd00:10:99::1", 1024, "", false, true)), PodNetwork.routes6(IP6_ROUTE));
    }

    @Test
    void dualStackBecomesIpv4ThenIpv6KernelArguments() {
        var network = new PodNetwork(Path.of("/run/netns/x"), "eth0", "10.99.0.5/24",
                List.of(new Route("default", "10.99.0.1", 0, "", false)), "02:00:00:00:00:01",
                List.of("fd00:10:99::5/64", "2001:db8::5/64"), PodNetwork.routes6(IP6_ROUTE));
        assertEquals("bollard.ip=10.99.0.5/24 bollard.route=default,via=10.99.0.1"
                + " bollard.ip6=fd00:10:99::5/64 bollard.ip6=2001:db8::5/64"
                + " bollard.route6=fd00:30::/48,metric=50"
                + " bollard.route6=2001:db8::/32,via=fe80::1,metric=1024,onlink"
                + " bollard.route6=fd00:20::/48,via=fd00:10:99::1,metric=7"
                + " bollard.route6=default,via=fd00:10:99::1,metric=1024", network.kernelArgs());
        // IPv6 only: no bollard.ip at all.
        assertEquals("bollard.ip6=fd00:10:99::5/64", new PodNetwork(Path.of("/n"), "eth0", "", List.of(),
                "02:00:00:00:00:01", List.of("fd00:10:99::5/64"), List.of()).kernelArgs());
    }

    @Test
    void ipv6TextIsCheckedToo() {
        assertThrows(IllegalArgumentException.class, () -> new Route("fd00::/64 evil", "", 0, "", false, true));
        assertThrows(IllegalArgumentException.class, () -> new Route("default", "10.0.0.1", 0, "", false, true));
        assertThrows(IllegalArgumentException.class, () -> new Route("10.0.0.0/8", "", 0, "", false, true));
        assertThrows(IllegalArgumentException.class, () -> new PodNetwork(Path.of("/n"), "eth0", "", List.of(),
                "02:00:00:00:00:01", List.of("fd00::5"), List.of())); // no prefix length
        assertThrows(IllegalArgumentException.class, () -> new PodNetwork(Path.of("/n"), "eth0", "", List.of(),
                "02:00:00:00:00:01", List.of("fd00::5/64,x"), List.of()));
        assertThrows(IllegalArgumentException.class, () -> new PodNetwork(Path.of("/n"), "eth0", "10.0.0.5/24",
                PodNetwork.routes6(IP6_ROUTE), "02:00:00:00:00:01", List.of(), List.of()));
    }
}
