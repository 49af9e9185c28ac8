package dev.bollard.daemon.network;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.List;

/** Reads the pod's addresses out of an ADD result of any spec version. */
final class CniResults {

    private CniResults() {
    }

    /**
     * The addresses on {@code ifName} inside the sandbox, without prefix, IPv4 first. An address whose
     * {@code interface} index is absent counts (IPAM-only chains give none); one on another or a host interface
     * does not.
     */
    static List<String> podIps(JsonObject result, String ifName) {
        List<String> v4 = new ArrayList<>();
        List<String> v6 = new ArrayList<>();
        if (result.has("ips") && result.get("ips").isJsonArray()) {
            JsonArray interfaces = result.has("interfaces") && result.get("interfaces").isJsonArray()
                    ? result.getAsJsonArray("interfaces") : new JsonArray();
            for (JsonElement e : result.getAsJsonArray("ips")) {
                if (!e.isJsonObject()) {
                    continue;
                }
                JsonObject ip = e.getAsJsonObject();
                if (ip.has("interface") && ip.get("interface").isJsonPrimitive()) {
                    int index = interfaceIndex(ip.get("interface").getAsJsonPrimitive());
                    if (index < 0 || index >= interfaces.size() || !interfaces.get(index).isJsonObject()) {
                        continue;
                    }
                    JsonObject itf = interfaces.get(index).getAsJsonObject();
                    if (!NetworkConfigList.string(itf, "name").equals(ifName)
                            || NetworkConfigList.string(itf, "sandbox").isEmpty()) {
                        continue;
                    }
                }
                add(NetworkConfigList.string(ip, "address"), v4, v6);
            }
        } else {
            // 0.1.0 / 0.2.0: {"ip4": {"ip": "10.1.0.5/16", ...}, "ip6": {...}}
            for (String key : List.of("ip4", "ip6")) {
                if (result.has(key) && result.get(key).isJsonObject()) {
                    add(NetworkConfigList.string(result.getAsJsonObject(key), "ip"), v4, v6);
                }
            }
        }
        v4.addAll(v6);
        return v4;
    }

    /** The index an address names, or -1 when it names none a result could hold (not a small whole number). */
    private static int interfaceIndex(com.google.gson.JsonPrimitive p) {
        if (!p.isNumber()) {
            return -1;
        }
        try {
            return p.getAsBigDecimal().intValueExact();
        } catch (ArithmeticException | NumberFormatException e) {
            return -1;
        }
    }

    private static void add(String cidr, List<String> v4, List<String> v6) {
        if (cidr.isEmpty()) {
            return;
        }
        int slash = cidr.indexOf('/');
        String ip = slash < 0 ? cidr : cidr.substring(0, slash);
        try {
            // a plugin's output goes into /etc/hosts and the pod's status: only an address literal is one
            (java.net.InetAddress.ofLiteral(ip) instanceof java.net.Inet6Address ? v6 : v4).add(ip);
        } catch (IllegalArgumentException notAnAddress) {
            // skipped, as an address on another interface is
        }
    }
}
