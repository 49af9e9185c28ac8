package dev.bollard.daemon.cdi;

import java.util.regex.Pattern;

/**
 * A fully qualified CDI device name, {@code vendor/class=name} (e.g. {@code vendor.com/gpu=0}); {@code vendor/class}
 * is the kind of the spec file that defines the device.
 */
public record CdiDeviceName(String vendor, String deviceClass, String name) {

    /** Vendor and class: a letter first, a letter or digit last, letters, digits, '-', '_' and '.' between. */
    private static final Pattern VENDOR_OR_CLASS = Pattern.compile("[A-Za-z]([A-Za-z0-9._-]*[A-Za-z0-9])?");
    /** Device names: alphanumeric first and last, '-', '_', '.' and ':' allowed between. */
    private static final Pattern DEVICE = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?");

    /** @throws IllegalArgumentException naming the string and what is wrong with it */
    public static CdiDeviceName parse(String qualified) {
        int slash = qualified.indexOf('/');
        int eq = qualified.indexOf('=');
        if (slash <= 0 || eq < slash) {
            throw new IllegalArgumentException("CDI device \"" + qualified
                    + "\" is not a fully qualified name (vendor.com/class=name)");
        }
        var parsed = new CdiDeviceName(qualified.substring(0, slash), qualified.substring(slash + 1, eq),
                qualified.substring(eq + 1));
        checkKind(parsed.kind(), "CDI device \"" + qualified + "\"");
        if (!validDeviceName(parsed.name)) {
            throw new IllegalArgumentException("CDI device \"" + qualified + "\": invalid device name \"" + parsed.name
                    + "\" (letters, digits, '-', '_', '.', ':'; alphanumeric first and last)");
        }
        return parsed;
    }

    /** @throws IllegalArgumentException unless {@code kind} is {@code vendor/class} */
    static void checkKind(String kind, String what) {
        int slash = kind.indexOf('/');
        if (slash <= 0 || !VENDOR_OR_CLASS.matcher(kind.substring(0, slash)).matches()
                || !VENDOR_OR_CLASS.matcher(kind.substring(slash + 1)).matches()) {
            throw new IllegalArgumentException(what + ": invalid kind \"" + kind
                    + "\" (vendor/class: letters, digits, '-', '_', '.'; a letter first, alphanumeric last)");
        }
    }

    static boolean validDeviceName(String name) {
        return DEVICE.matcher(name).matches();
    }

    public String kind() {
        return vendor + "/" + deviceClass;
    }

    @Override
    public String toString() {
        return kind() + "=" + name;
    }
}
