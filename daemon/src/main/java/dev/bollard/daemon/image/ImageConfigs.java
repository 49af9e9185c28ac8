package dev.bollard.daemon.image;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.bollard.daemon.content.Digest;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** What Bollard reads from an OCI image config: the layers' diff IDs and the default user. */
public final class ImageConfigs {

    /** The config's {@code User}: a numeric uid, or a user name; neither when the image names no user. */
    public record User(long uid, String username) {
        public static final User NONE = new User(-1, "");
    }

    public record Parsed(List<Digest> diffIds, User user, JsonObject json) {
    }

    private ImageConfigs() {
    }

    /** @throws IllegalArgumentException naming what is wrong with the config */
    public static Parsed parse(byte[] bytes) {
        JsonObject root;
        try {
            JsonElement e = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8));
            if (!e.isJsonObject()) {
                throw new IllegalArgumentException("image config is not a JSON object");
            }
            root = e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("image config is not valid JSON: " + e.getMessage(), e);
        }
        var diffIds = new ArrayList<Digest>();
        var rootfs = root.getAsJsonObject("rootfs");
        if (rootfs == null || !rootfs.has("diff_ids") || !rootfs.get("diff_ids").isJsonArray()) {
            throw new IllegalArgumentException("image config has no rootfs.diff_ids");
        }
        for (var d : rootfs.getAsJsonArray("diff_ids")) {
            diffIds.add(Digest.parse(d.getAsString()));
        }
        String user = "";
        var config = root.getAsJsonObject("config");
        if (config != null && config.has("User") && config.get("User").isJsonPrimitive()) {
            user = config.get("User").getAsString();
        }
        return new Parsed(List.copyOf(diffIds), user(user), root);
    }

    /** containerd's reading of {@code User}: "uid", "uid:gid", "name" or "name:group"; only the user part counts. */
    static User user(String user) {
        if (user.isEmpty()) {
            return User.NONE;
        }
        String u = user.contains(":") ? user.substring(0, user.indexOf(':')) : user;
        if (u.isEmpty()) {
            return User.NONE;
        }
        try {
            long uid = Long.parseLong(u);
            return uid < 0 ? User.NONE : new User(uid, "");
        } catch (NumberFormatException e) {
            return new User(-1, u);
        }
    }
}
