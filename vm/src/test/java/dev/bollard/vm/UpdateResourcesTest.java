package dev.bollard.vm;

import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The memory limit the shim hands the agent beside an update's OCI resources (for its check against the usage). */
class UpdateResourcesTest {

    private static String limit(String json) {
        return TaskService.memoryLimit(JsonParser.parseString(json).getAsJsonObject());
    }

    @Test
    void aPositiveMemoryLimitIsPassedOn() {
        assertEquals("100663296", limit("{\"memory\":{\"limit\":100663296,\"swap\":100663296},\"cpu\":{\"quota\":5}}"));
        assertEquals("4096", limit("{\"memory\": {\"limit\": 4096.0}}"));
    }

    @Test
    void noLimitOrAnUnlimitedOneIsNothingToCheck() {
        assertEquals("", limit("{\"cpu\":{\"quota\":50000,\"period\":100000}}"));
        assertEquals("", limit("{\"memory\":{\"swap\":1}}"));
        assertEquals("", limit("{\"memory\":null}"));
        assertEquals("", limit("{\"memory\":{\"limit\":-1}}"));
        assertEquals("", limit("{\"memory\":{\"limit\":0}}"));
    }

    @Test
    void aLimitThatIsNoWholeNumberIsRefused() {
        for (String json : new String[]{"{\"memory\":{\"limit\":\"lots\"}}", "{\"memory\":{\"limit\":\"4096\"}}",
                "{\"memory\":{\"limit\":1.5}}", "{\"memory\":{\"limit\":{}}}", "{\"memory\":[1]}",
                "{\"memory\":{\"limit\":1e30}}"}) {
            assertThrows(IllegalArgumentException.class, () -> limit(json), json);
        }
    }
}
