package dev.bollard.api.ttrpc;

import com.google.protobuf.ByteString;
import com.google.rpc.Status;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Guards the wire shape of the ttrpc envelope against the published field numbers: each message is encoded and
 * compared with bytes written out by hand (tag = field number << 3 | wire type).
 */
class TtrpcProtoTest {

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    @Test
    void requestFieldNumbers() {
        var req = Request.newBuilder()
                .setService("s")
                .setMethod("m")
                .setPayload(ByteString.copyFrom(new byte[] {1, 2}))
                .setTimeoutNano(300)
                .addMetadata(KeyValue.newBuilder().setKey("k").setValue("v"))
                .build();
        // 1:string "s" | 2:string "m" | 3:bytes 01 02 | 4:varint 300 (ac 02) | 5:KeyValue{1:"k", 2:"v"}
        assertArrayEquals(hex("0a0173 12016d 1a020102 20ac02 2a06 0a016b 120176"), req.toByteArray());
        assertEquals("ttrpc.Request", Request.getDescriptor().getFullName());
    }

    @Test
    void responseFieldNumbersAndStatusShape() {
        var resp = Response.newBuilder()
                .setStatus(Status.newBuilder().setCode(5).setMessage("x"))
                .setPayload(ByteString.copyFrom(new byte[] {9}))
                .build();
        // 1:Status{1:varint 5, 2:string "x"} | 2:bytes 09
        assertArrayEquals(hex("0a05 0805 120178 120109"), resp.toByteArray());
        assertEquals("google.rpc.Status", Response.getDescriptor().findFieldByNumber(1).getMessageType().getFullName());
    }

    @Test
    void stringListAndKeyValue() {
        assertArrayEquals(hex("0a0161 0a0162"), StringList.newBuilder().addList("a").addList("b").build().toByteArray());
        assertArrayEquals(hex("0a0161 120162"), KeyValue.newBuilder().setKey("a").setValue("b").build().toByteArray());
    }
}
