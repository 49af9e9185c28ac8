package dev.bollard.daemon.cri;

import java.util.function.Supplier;

/**
 * The last answer of a List call, given again while the filter is the same and the versions of everything it was
 * built from ({@code EntryStore.version}, {@code ImageManager.version}) read as they did before it was built: kubelet
 * relists every second with the same filter, and mostly nothing changed. Handing back the same message also lets
 * {@link LastBytesMarshaller} send the bytes it serialized last time.
 *
 * <p>The versions are read before the answer is built and every change bumps them after it is visible, so an answer
 * is never kept past a change that a later call could see.
 */
final class LastAnswer<F, A> {

    private record Entry<F, A>(F filter, long version, long imagesVersion, A answer) {
    }

    private volatile Entry<F, A> last;

    /**
     * @param version       the store's version, read before this call
     * @param imagesVersion the image manager's version, read before this call (0 when images play no part)
     */
    A answer(F filter, long version, long imagesVersion, Supplier<A> build) {
        var e = last;
        if (e != null && e.version() == version && e.imagesVersion() == imagesVersion && e.filter().equals(filter)) {
            return e.answer();
        }
        var answer = build.get();
        last = new Entry<>(filter, version, imagesVersion, answer);
        return answer;
    }
}
