package dev.bollard.daemon.oci;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;

/** User resolution against a rootfs' /etc/passwd and /etc/group, the way containerd reads an image's users. */
public final class Users {

    /** The identity of a container's first process. */
    public record Resolved(long uid, long gid, List<Long> additionalGids, String username) {
        public Resolved {
            additionalGids = List.copyOf(additionalGids);
        }
    }

    /** One /etc/passwd line. */
    public record PasswdEntry(String name, long uid, long gid, String home) {
    }

    /** One /etc/group line. */
    public record GroupEntry(String name, long gid, List<String> members) {
    }

    /** An image's /etc/passwd and /etc/group, read before the spec is built (both empty when the image has none). */
    public record ImageUsers(List<PasswdEntry> passwd, List<GroupEntry> groups) {
        public static final ImageUsers NONE = new ImageUsers(List.of(), List.of());

        public ImageUsers {
            passwd = List.copyOf(passwd);
            groups = List.copyOf(groups);
        }

        /** Reads and parses both files of a rootfs. */
        public static ImageUsers read(RootfsFiles rootfs) throws IOException {
            return new ImageUsers(Users.passwd(rootfs), Users.groups(rootfs));
        }
    }

    private Users() {
    }

    /**
     * Resolves a user spec: "name", "uid", "name:group", "uid:gid" (or mixed); empty means root. A numeric uid absent
     * from /etc/passwd runs with gid 0 (or the given group); an unknown name fails.
     *
     * @param field names the source of the spec in error messages (e.g. "image config User")
     * @throws IllegalArgumentException naming the field and the unknown user or group
     */
    public static Resolved resolve(String spec, ImageUsers users, String field) {
        String user = spec;
        String group = null;
        int colon = spec.indexOf(':');
        if (colon >= 0) {
            user = spec.substring(0, colon);
            group = spec.substring(colon + 1);
            if (group.isEmpty() || group.contains(":")) {
                throw new IllegalArgumentException(field + ": bad user spec \"" + spec + "\"");
            }
        }
        if (user.isEmpty()) {
            if (group != null) {
                throw new IllegalArgumentException(field + ": bad user spec \"" + spec + "\" (group without user)");
            }
            user = "0";
        }
        List<PasswdEntry> passwd = null;
        long uid;
        long gid;
        String username;
        Long numericUid = numeric(user, field, spec);
        if (numericUid != null) {
            uid = numericUid;
            passwd = users.passwd();
            Optional<PasswdEntry> entry = passwd.stream().filter(e -> e.uid() == uid).findFirst();
            gid = entry.map(PasswdEntry::gid).orElse(0L);
            username = entry.map(PasswdEntry::name).orElse("");
        } else {
            passwd = users.passwd();
            String name = user;
            PasswdEntry entry = passwd.stream().filter(e -> e.name().equals(name)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException(
                            field + ": no user \"" + name + "\" in the image's /etc/passwd"));
            uid = entry.uid();
            gid = entry.gid();
            username = entry.name();
        }
        List<GroupEntry> groups = null;
        if (group != null) {
            Long numericGid = numeric(group, field, spec);
            if (numericGid != null) {
                gid = numericGid;
            } else {
                groups = users.groups();
                String name = group;
                gid = groups.stream().filter(g -> g.name().equals(name)).findFirst()
                        .orElseThrow(() -> new IllegalArgumentException(
                                field + ": no group \"" + name + "\" in the image's /etc/group"))
                        .gid();
            }
        }
        return new Resolved(uid, gid, List.of(), username);
    }

    /**
     * The supplementary groups of a resolved user: its primary gid, then (Merge) the groups of /etc/group that list it
     * as a member, then the requested ones; without duplicates. Strict leaves /etc/group out.
     */
    public static Resolved withGroups(Resolved user, List<Long> requested, boolean strict, ImageUsers users) {
        var gids = new LinkedHashSet<Long>();
        gids.add(user.gid());
        if (!strict && !user.username().isEmpty()) {
            for (GroupEntry g : users.groups()) {
                if (g.members().contains(user.username())) {
                    gids.add(g.gid());
                }
            }
        }
        for (long g : requested) {
            if (g < 0) {
                throw new IllegalArgumentException("supplemental_groups: negative gid " + g);
            }
            gids.add(g);
        }
        return new Resolved(user.uid(), user.gid(), new ArrayList<>(gids), user.username());
    }

    private static Long numeric(String s, String field, String spec) {
        if (!s.chars().allMatch(Character::isDigit)) {
            return null;
        }
        try {
            long v = Long.parseLong(s);
            if (v > 0xFFFF_FFFEL) {
                throw new IllegalArgumentException(field + ": id out of range in \"" + spec + "\"");
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(field + ": id out of range in \"" + spec + "\"", e);
        }
    }

    static List<PasswdEntry> passwd(RootfsFiles rootfs) throws IOException {
        var entries = new ArrayList<PasswdEntry>();
        for (String[] f : lines(rootfs, "/etc/passwd")) {
            // name:password:uid:gid:gecos:home:shell
            if (f.length < 4) {
                continue;
            }
            try {
                entries.add(new PasswdEntry(f[0], Long.parseLong(f[2]), Long.parseLong(f[3]), f.length > 5 ? f[5] : ""));
            } catch (NumberFormatException e) {
                // a malformed line is skipped, as libc's getpwent does
            }
        }
        return entries;
    }

    static List<GroupEntry> groups(RootfsFiles rootfs) throws IOException {
        var entries = new ArrayList<GroupEntry>();
        for (String[] f : lines(rootfs, "/etc/group")) {
            // name:password:gid:member,member
            if (f.length < 3) {
                continue;
            }
            try {
                var members = new ArrayList<String>();
                if (f.length > 3) {
                    for (String m : f[3].split(",")) {
                        if (!m.isBlank()) {
                            members.add(m.trim());
                        }
                    }
                }
                entries.add(new GroupEntry(f[0], Long.parseLong(f[2]), List.copyOf(members)));
            } catch (NumberFormatException e) {
                // skipped like a malformed passwd line
            }
        }
        return entries;
    }

    private static List<String[]> lines(RootfsFiles rootfs, String path) throws IOException {
        var out = new ArrayList<String[]>();
        Optional<byte[]> bytes = rootfs.read(path);
        if (bytes.isEmpty()) {
            return out;
        }
        for (String line : new String(bytes.get(), StandardCharsets.UTF_8).split("\n")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            out.add(l.split(":", -1));
        }
        return out;
    }
}
