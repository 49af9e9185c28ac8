package dev.bollard.daemon.network;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.bollard.daemon.testkit.Mutations;
import dev.bollard.daemon.testkit.Gen;
import dev.bollard.daemon.testkit.Tries;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * A CNI plugin's ADD result is another program's output: whatever shape it has, reading the pod's addresses out of
 * it yields addresses (no prefix) or nothing, never an exception.
 */
class CniResultsProperties {

    private static final List<String> RESULTS = List.of("""
            {"cniVersion":"1.0.0","interfaces":[{"name":"bt1","mac":"aa:bb:cc:dd:ee:ff"},
              {"name":"eth0","mac":"11:22:33:44:55:66","sandbox":"/var/run/netns/x"}],
             "ips":[{"interface":1,"address":"10.88.0.5/16","gateway":"10.88.0.1"},
                    {"interface":1,"address":"fd00::5/64"},{"address":"10.99.0.7/24"}],
             "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}
            """, """
            {"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.5/16","gateway":"10.1.0.1"},"ip6":{"ip":"fd00::1/64"}}
            """);

    /** One of the valid results, and the seed and count of its structural mutations. */
    record Mutated(String result, long seed, int count) {
    }

    @TestFactory
    Stream<DynamicTest> anyShapeOfResultGivesAddressesOrNothing() {
        Gen<Mutated> samples = r -> new Mutated(Gen.oneOf(RESULTS).next(r), r.nextLong(), Gen.ints(1, 6).next(r));
        return Tries.forAll(2000, samples, CniResultsProperties::addressesOrNothing);
    }

    private static void addressesOrNothing(Mutated m) {
        var mutated = Mutations.json(JsonParser.parseString(m.result()), m.seed(), m.count());
        if (!mutated.isJsonObject()) {
            return; // the caller only hands over objects
        }
        for (String ip : CniResults.podIps(mutated.getAsJsonObject(), "eth0")) {
            assertFalse(ip.isEmpty() || ip.contains("/"), ip);
            java.net.InetAddress.ofLiteral(ip); // an address literal, nothing else
        }
    }

    @Test
    void theValidResultsReadAsBefore() {
        assertEquals(List.of("10.88.0.5", "10.99.0.7", "fd00::5"),
                CniResults.podIps(JsonParser.parseString(RESULTS.get(0)).getAsJsonObject(), "eth0"));
        assertEquals(List.of("10.1.0.5", "fd00::1"),
                CniResults.podIps(JsonParser.parseString(RESULTS.get(1)).getAsJsonObject(), "eth0"));
    }

    @Test
    void anInterfaceIndexThatIsNoNumberOrAnAddressThatIsNoAddressIsSkipped() {
        var r = JsonParser.parseString("""
                {"interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"interface":"first","address":"10.0.0.1/8"},
                 {"interface":1e300,"address":"10.0.0.2/8"},{"interface":0,"address":"10.0.0.3/8"},
                 {"address":"sha256:0\\n10.0.0.9 evil/8"},{"address":"/8"}]}
                """).getAsJsonObject();
        assertEquals(List.of("10.0.0.3"), CniResults.podIps(r, "eth0"));
    }
}
