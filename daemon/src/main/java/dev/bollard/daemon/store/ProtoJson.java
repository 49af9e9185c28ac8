package dev.bollard.daemon.store;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;

/** CRI configs kept inside records as protobuf JSON (readable, and stable across field additions). */
public final class ProtoJson {

    private ProtoJson() {
    }

    public static JsonObject toJson(Message message) {
        try {
            return JsonParser.parseString(JsonFormat.printer().omittingInsignificantWhitespace().print(message))
                    .getAsJsonObject();
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e); // a message Bollard holds always prints
        }
    }

    /** Merges the JSON into the builder and builds it. */
    @SuppressWarnings("unchecked")
    public static <M extends Message> M fromJson(JsonObject json, Message.Builder builder)
            throws InvalidProtocolBufferException {
        JsonFormat.parser().merge(json.toString(), builder);
        return (M) builder.build();
    }
}
