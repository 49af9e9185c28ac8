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
 * @param device  the CNI interface (the namespace's first interface with an IPv4 address other than lo)
 * @param address its IPv4 address with prefix length, e.g. 10.88.0.5/16
 * @param gateway the default route's gateway, or empty
 * @param mac     its MAC address, given to the guest's NIC
 */
record PodNetwork(Path netns, String device, String address, String gateway, String mac) {

    private static final Log LOG = Log.get("vm-net");
    static final String TAP = "tap0";

    /** Reads the pod's interface and joins a tap to it. Empty if the namespace has no IPv4 interface. */
    static Optional<PodNetwork> join(Path netns) throws IOException {
        JsonArray links = JsonParser.parseString(run(netns, "ip", "-j", "addr", "show")).getAsJsonArray();
        for (JsonElement element : links) {
            JsonObject link = element.getAsJsonObject();
            String name = link.get("ifname").getAsString();
            if (name.equals("lo") || name.equals(TAP) || !link.has("addr_info")) {
                continue;
            }
            for (JsonElement a : link.getAsJsonArray("addr_info")) {
                JsonObject addr = a.getAsJsonObject();
                if (!addr.get("family").getAsString().equals("inet")) {
                    continue;
                }
                String address = addr.get("local").getAsString() + "/" + addr.get("prefixlen").getAsInt();
                JsonArray routes = JsonParser.parseString(run(netns, "ip", "-j", "-4", "route", "show", "default"))
                        .getAsJsonArray();
                String gateway = routes.isEmpty() || !routes.get(0).getAsJsonObject().has("gateway") ? ""
                        : routes.get(0).getAsJsonObject().get("gateway").getAsString();
                var network = new PodNetwork(netns, name, address, gateway, link.get("address").getAsString());
                network.connect();
                return Optional.of(network);
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

    /** Kernel arguments the guest's /init configures its NIC from. */
    String kernelArgs() {
        return "bollard.ip=" + address + (gateway.isEmpty() ? "" : " bollard.gw=" + gateway);
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
