package dev.bollard.vm;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.daemon.log.Log;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The pod's network (its namespace, made by CNI) joined to the VM as Kata does: a tap device in that namespace,
 * whose traffic and the CNI interface's are redirected into each other with tc mirred, so the guest's NIC (same
 * MAC, the pod's address) is the pod's interface. qemu runs inside the namespace to open the tap.
 *
 * @param netns   the pod's network namespace file
 * @param device     the CNI interface (the namespace's first interface other than lo with an IPv4 or a global
 *                   IPv6 address)
 * @param address    its IPv4 address with prefix length, e.g. 10.88.0.5/16; empty on an IPv6-only interface
 * @param routes     the IPv4 routes of that interface in the namespace (main table), copied into the guest
 * @param mac        its MAC address, given to the guest's NIC
 * @param addresses6 its global IPv6 addresses with prefix lengths (link-local ones the guest's kernel derives
 *                   from the same MAC)
 * @param routes6    its IPv6 routes (main table), as {@link #routes} are taken
 */
record PodNetwork(Path netns, String device, String address, List<Route> routes, String mac,
                  List<String> addresses6, List<Route> routes6) {

    private static final Log LOG = Log.get("vm-net");
    static final String TAP = "tap0";
    /**
     * Room for the routes on the kernel command line (x86's is 2048 bytes, the fixed arguments take ~150): a pod
     * with more routes than fit fails to start, naming why, rather than running with some of them missing.
     */
    static final int MAX_ROUTE_ARGS_CHARS = 1500;

    private static final java.util.regex.Pattern IPV6_PREFIX = java.util.regex.Pattern.compile(
            "[0-9a-fA-F]*:[0-9a-fA-F:.]*/\\d{1,3}");

    PodNetwork {
        routes = List.copyOf(routes);
        addresses6 = List.copyOf(addresses6);
        routes6 = List.copyOf(routes6);
        for (String a : addresses6) {
            if (!IPV6_PREFIX.matcher(a).matches()) {
                throw new IllegalArgumentException("address " + a + " is not an IPv6 address with a prefix length");
            }
        }
        if (routes.stream().anyMatch(Route::inet6) || routes6.stream().anyMatch(r -> !r.inet6())) {
            throw new IllegalArgumentException("IPv4 and IPv6 routes mixed up");
        }
    }

    /** An IPv4-only pod network. */
    PodNetwork(Path netns, String device, String address, List<Route> routes, String mac) {
        this(netns, device, address, routes, mac, List.of(), List.of());
    }

    /**
     * One IPv4 or IPv6 route of the pod's interface, as the guest's {@code ip route add} takes it ({@code dev eth0}).
     *
     * @param destination "default" or a prefix (a.b.c.d/n; a host route without /n)
     * @param gateway     the next hop, or empty for a link route
     * @param metric      the metric, or 0 for none
     * @param source      the preferred source address, or empty
     * @param onlink      whether the gateway is taken as on the link without a route to it (e.g. Calico's 169.254.1.1)
     * @param inet6       whether it is an IPv6 route (all its addresses IPv6 text)
     */
    record Route(String destination, String gateway, long metric, String source, boolean onlink, boolean inet6) {

        private static final java.util.regex.Pattern IPV4 = java.util.regex.Pattern.compile(
                "\\d{1,3}(\\.\\d{1,3}){3}");
        private static final java.util.regex.Pattern DESTINATION = java.util.regex.Pattern.compile(
                "default|\\d{1,3}(\\.\\d{1,3}){3}(/\\d{1,2})?");
        /** IPv6 text: hex groups and colons (an IPv4-mapped tail's dots allowed); at least one colon. */
        private static final java.util.regex.Pattern IPV6 = java.util.regex.Pattern.compile(
                "[0-9a-fA-F]*:[0-9a-fA-F:.]*");
        private static final java.util.regex.Pattern DESTINATION6 = java.util.regex.Pattern.compile(
                "default|[0-9a-fA-F]*:[0-9a-fA-F:.]*(/\\d{1,3})?");

        /** An IPv4 route. */
        Route(String destination, String gateway, long metric, String source, boolean onlink) {
            this(destination, gateway, metric, source, onlink, false);
        }

        Route {
            String family = inet6 ? "IPv6" : "IPv4";
            var address = inet6 ? IPV6 : IPV4;
            if (!(inet6 ? DESTINATION6 : DESTINATION).matcher(destination).matches()) {
                throw new IllegalArgumentException("route destination " + destination + " is not " + family);
            }
            if (!gateway.isEmpty() && !address.matcher(gateway).matches()) {
                throw new IllegalArgumentException("route gateway " + gateway + " is not " + family);
            }
            if (!source.isEmpty() && !address.matcher(source).matches()) {
                throw new IllegalArgumentException("route source " + source + " is not " + family);
            }
            if (metric < 0) {
                throw new IllegalArgumentException("route metric " + metric + " is negative");
            }
        }

        /**
         * {@code bollard.route=DST[,via=GW][,metric=N][,src=IP][,onlink]} ({@code bollard.route6=} for IPv6): one
         * kernel argument, no spaces.
         */
        String kernelArg() {
            var arg = new StringBuilder(inet6 ? "bollard.route6=" : "bollard.route=").append(destination);
            if (!gateway.isEmpty()) {
                arg.append(",via=").append(gateway);
            }
            if (metric > 0) {
                arg.append(",metric=").append(metric);
            }
            if (!source.isEmpty()) {
                arg.append(",src=").append(source);
            }
            if (onlink) {
                arg.append(",onlink");
            }
            return arg.toString();
        }
    }

    /**
     * The routes to copy from {@code ip -j -4 route show dev <device>} (the main table): every one but those the
     * kernel made for the interface's own address (protocol kernel), which the guest's kernel makes too when
     * /init adds the address. Link routes come first, so the gateways of the others are reachable when added.
     */
    static List<Route> routes(String ipRouteJson) {
        return routes(ipRouteJson, false);
    }

    /**
     * The same for {@code ip -j -6 route show dev <device>}: the kernel's own routes (fe80::/64, the address's
     * prefix) are made by the guest's kernel too; multicast and other non-unicast types are skipped.
     */
    static List<Route> routes6(String ipRouteJson) {
        return routes(ipRouteJson, true);
    }

    private static List<Route> routes(String ipRouteJson, boolean inet6) {
        var link = new ArrayList<Route>();
        var viaGateway = new ArrayList<Route>();
        for (JsonElement element : JsonParser.parseString(ipRouteJson).getAsJsonArray()) {
            JsonObject r = element.getAsJsonObject();
            String protocol = text(r, "protocol");
            if (protocol.equals("kernel") || (inet6 && protocol.equals("ra"))) {
                continue; // the guest's kernel makes these itself (router advertisements reach it too)
            }
            if (r.has("type") && !r.get("type").getAsString().equals("unicast")) {
                continue; // local, broadcast, blackhole...: not the interface's to carry
            }
            boolean onlink = false;
            if (r.has("flags")) {
                for (JsonElement flag : r.getAsJsonArray("flags")) {
                    onlink |= flag.getAsString().equals("onlink");
                }
            }
            var route = new Route(r.get("dst").getAsString(), text(r, "gateway"),
                    r.has("metric") ? r.get("metric").getAsLong() : 0, text(r, "prefsrc"), onlink, inet6);
            (route.gateway().isEmpty() ? link : viaGateway).add(route);
        }
        link.addAll(viaGateway);
        return link;
    }

    private static String text(JsonObject o, String key) {
        return o.has(key) ? o.get(key).getAsString() : "";
    }

    /**
     * Reads the pod's interface (the first but lo with an IPv4 or a global IPv6 address) and joins a tap to it.
     * Empty if the namespace has no such interface.
     */
    static Optional<PodNetwork> join(Path netns) throws IOException {
        JsonArray links = JsonParser.parseString(run(netns, "ip", "-j", "addr", "show")).getAsJsonArray();
        var chosen = interfaceOf(links);
        if (chosen.isEmpty()) {
            return Optional.empty();
        }
        String name = chosen.get().device();
        List<Route> routes;
        List<Route> routes6;
        try {
            routes = chosen.get().address().isEmpty() ? List.of()
                    : routes(run(netns, "ip", "-j", "-4", "route", "show", "dev", name));
            routes6 = chosen.get().addresses6().isEmpty() ? List.of()
                    : routes6(run(netns, "ip", "-j", "-6", "route", "show", "dev", name));
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new IOException("cannot read the routes of " + name + " in " + netns + ": " + e.getMessage(), e);
        }
        var network = new PodNetwork(netns, name, chosen.get().address(), routes, chosen.get().mac(),
                chosen.get().addresses6(), routes6);
        String args = network.kernelArgs();
        if (args.length() > MAX_ROUTE_ARGS_CHARS) {
            throw new IOException("the pod's interface " + name + " has " + routes.size() + " IPv4 and "
                    + routes6.size() + " IPv6 routes, " + args.length()
                    + " characters on the guest kernel's command line (at most " + MAX_ROUTE_ARGS_CHARS + ")");
        }
        network.connect();
        return Optional.of(network);
    }

    /** The CNI interface in {@code ip -j addr show}: name, MAC, IPv4 address (or empty), global IPv6 addresses. */
    record Interface(String device, String mac, String address, List<String> addresses6) {
    }

    static Optional<Interface> interfaceOf(JsonArray links) {
        for (JsonElement element : links) {
            JsonObject link = element.getAsJsonObject();
            String name = link.get("ifname").getAsString();
            if (name.equals("lo") || name.equals(TAP) || !link.has("addr_info")) {
                continue;
            }
            String address = "";
            var addresses6 = new ArrayList<String>();
            for (JsonElement a : link.getAsJsonArray("addr_info")) {
                JsonObject addr = a.getAsJsonObject();
                String family = text(addr, "family");
                String prefix = addr.get("local").getAsString() + "/" + addr.get("prefixlen").getAsInt();
                if (family.equals("inet") && address.isEmpty()) {
                    address = prefix;
                } else if (family.equals("inet6") && text(addr, "scope").equals("global")) {
                    addresses6.add(prefix);
                }
            }
            if (!address.isEmpty() || !addresses6.isEmpty()) {
                return Optional.of(new Interface(name, text(link, "address"), address, addresses6));
            }
        }
        return Optional.empty();
    }

    private void connect() throws IOException {
        try {
            run(netns, "ip", "tuntap", "add", "dev", TAP, "mode", "tap");
            run(netns, "ip", "link", "set", TAP, "up");
            for (String[] pair : List.of(new String[] {device, TAP}, new String[] {TAP, device})) {
                run(netns, "tc", "qdisc", "add", "dev", pair[0], "ingress");
                run(netns, "tc", "filter", "add", "dev", pair[0], "parent", "ffff:", "protocol", "all", "u32", "match",
                        "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", pair[1]);
            }
        } catch (IOException e) {
            disconnect();
            throw e;
        }
    }

    /** Removes the tap and the redirect (quietly: the namespace may be gone already). */
    void disconnect() {
        for (List<String> command : List.of(List.of("ip", "link", "del", TAP),
                List.of("tc", "qdisc", "del", "dev", device, "ingress"))) {
            try {
                run(netns, command.toArray(String[]::new));
            } catch (IOException e) {
                LOG.debug("network cleanup step failed", "command", String.join(" ", command), "error", e.getMessage());
            }
        }
    }

    /** The command prefix that runs a program in the pod's network namespace. */
    List<String> enter() {
        return List.of("nsenter", "--net=" + netns);
    }

    /**
     * Kernel arguments the guest's /init configures its NIC from: the IPv4 address, its routes in order, then the
     * IPv6 addresses ({@code bollard.ip6=A/P}, one each) and their routes ({@code bollard.route6=}).
     */
    String kernelArgs() {
        var args = new ArrayList<String>();
        if (!address.isEmpty()) {
            args.add("bollard.ip=" + address);
        }
        routes.forEach(r -> args.add(r.kernelArg()));
        addresses6.forEach(a -> args.add("bollard.ip6=" + a));
        routes6.forEach(r -> args.add(r.kernelArg()));
        return String.join(" ", args);
    }

    private static String run(Path netns, String... command) throws IOException {
        var full = new ArrayList<String>(List.of("nsenter", "--net=" + netns));
        full.addAll(List.of(command));
        Process p = new ProcessBuilder(full).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", full) + " did not finish");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", full), e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", full) + " exited with " + p.exitValue() + ": " + out.strip());
        }
        return out;
    }
}
