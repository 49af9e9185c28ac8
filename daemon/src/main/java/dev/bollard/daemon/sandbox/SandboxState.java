package dev.bollard.daemon.sandbox;

/**
 * A pod sandbox's state as the CRI sees it: READY while its infra process runs, NOTREADY before RunPodSandbox
 * finished and once the pod stopped:
 *
 * <pre>
 *   (run begun) NOTREADY ──infra started, network up──▶ READY ──stop / infra exit / shim gone──▶ NOTREADY (stopped)
 * </pre>
 *
 * A stopped pod never becomes ready again (kubelet runs a new one); {@code SandboxStore.update} checks that with
 * {@link #canBecome}.
 */
public enum SandboxState {
    READY, NOTREADY;

    /**
     * The table of legal transitions; {@code unfinished} says whether the pod is still being run (its infra pid not
     * yet recorded), the one time NOTREADY may become READY.
     */
    public boolean canBecome(SandboxState next, boolean unfinished) {
        return next == this || switch (this) {
            case READY -> next == NOTREADY;
            case NOTREADY -> unfinished;
        };
    }
}
