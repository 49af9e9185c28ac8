package dev.bollard.daemon.runtime;

import dev.bollard.daemon.config.BollardConfig.CgroupDriverSetting;
import dev.bollard.daemon.config.ConfigException;

/** The cgroup driver in use, resolved once at start from the setting and the node. */
public enum CgroupDriver {
    CGROUPFS, SYSTEMD;

    /**
     * @param systemdRunning whether systemd is the init system on this node
     * @throws ConfigException when systemd is asked for but is not running: pods would fail one by one otherwise
     */
    public static CgroupDriver resolve(CgroupDriverSetting setting, boolean systemdRunning) throws ConfigException {
        return switch (setting) {
            case AUTO -> systemdRunning ? SYSTEMD : CGROUPFS;
            case CGROUPFS -> CGROUPFS;
            case SYSTEMD -> {
                if (!systemdRunning) {
                    throw new ConfigException("runtime.cgroup_driver = \"systemd\", but systemd is not running on this"
                            + " node (no /run/systemd/system); use \"cgroupfs\" or \"auto\"");
                }
                yield SYSTEMD;
            }
        };
    }
}
