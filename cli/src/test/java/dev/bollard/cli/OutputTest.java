package dev.bollard.cli;

import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class OutputTest {

    private static String yaml(String json) {
        return Output.render(JsonParser.parseString(json), Output.Format.YAML);
    }

    @Test
    void yamlLaysOutListsLikeGoYaml() {
        assertEquals("""
                a:
                  b: 1
                  list:
                  - x: "true"
                    y: plain
                  - scalar
                  - - 1
                    - 2
                  empty: []
                  none: {}
                quoted: "a: b"
                """, yaml("{\"a\":{\"b\":1,\"list\":[{\"x\":\"true\",\"y\":\"plain\"},\"scalar\",[1,2]],"
                + "\"empty\":[],\"none\":{}},\"quoted\":\"a: b\"}"));
    }

    @Test
    void yamlQuotesEmptyAndSpecialStrings() {
        assertEquals("e: \"\"\nn: \"null\"\nnum: \"10\"\npath: /run/bollard.sock\n",
                yaml("{\"e\":\"\",\"n\":\"null\",\"num\":\"10\",\"path\":\"/run/bollard.sock\"}"));
    }

    @Test
    void unknownFormatIsAClearError() {
        assertEquals("-o: \"xml\" is not one of json, yaml, table",
                assertThrows(CliException.class, () -> Output.parse("xml")).getMessage());
    }

    @Test
    void endpointForms() {
        assertEquals(java.nio.file.Path.of("/run/b.sock"), CriClient.socketPath("unix:///run/b.sock"));
        assertEquals(java.nio.file.Path.of("/run/b.sock"), CriClient.socketPath("unix:/run/b.sock"));
        assertEquals(java.nio.file.Path.of("/run/b.sock"), CriClient.socketPath("/run/b.sock"));
        assertEquals("unsupported endpoint tcp://1.2.3.4:5: only unix:// sockets are supported",
                assertThrows(CliException.class, () -> CriClient.socketPath("tcp://1.2.3.4:5")).getMessage());
    }
}
