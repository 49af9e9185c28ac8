package dev.bollard.daemon.container;

/**
 * A container's state as the CRI defines it: created (not started), running, exited, or unknown. A container runs at
 * most once (the CRI has no restart), so the states only move forward:
 *
 * <pre>
 *   CREATED ──start──▶ RUNNING ──exit / stop / lost──▶ EXITED
 *      └──────────── start failed ──────────────────────▲
 * </pre>
 *
 * Each state may also be rewritten as itself (a resources update, a recovered pid).
 */
public enum ContainerState {
    CREATED, RUNNING, EXITED, UNKNOWN;

    /** The table of legal transitions {@code ContainerStore.update} checks. */
    public boolean canBecome(ContainerState next) {
        return next == this || switch (this) {
            case CREATED -> next == RUNNING || next == EXITED;
            case RUNNING, UNKNOWN -> next == EXITED;
            case EXITED -> false;
        };
    }
}
