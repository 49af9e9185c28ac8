package dev.bollard.daemon.runtime;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CriuTest {

    @Test
    void aVdsoFailureIsExplained() {
        String out = """
                Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds
                Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable
                Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.
                Error (criu/crtools.c:260): Could not initialize kernel features detection.
                """;
        String why = Criu.describeFailure(Path.of("/usr/sbin/criu"), 1, out);
        assertTrue(why.startsWith("criu check failed (/usr/sbin/criu, exit 1): Error (criu/vdso.c:381)"), why);
        assertTrue(why.contains("Could not initialize kernel features detection"), why);
        assertTrue(why.contains("vvar_vclock") && why.contains("CRIU 4.1"), why);
        assertFalse(why.contains("\n"), "one line: " + why);
        assertFalse(why.contains(".."), why);
    }

    @Test
    void otherFailuresKeepCriusWords() {
        String why = Criu.describeFailure(Path.of("/usr/sbin/criu"), 1, "Looks bad: something missing\n");
        assertTrue(why.endsWith("Looks bad: something missing"), why);
        assertFalse(why.contains("vvar"), why);
    }

    @Test
    void theNodesAnswerIsOneLineWhenCriuDoesNotWork() {
        // No assumption about this node: either CRIU works (empty) or the reason is a single line naming criu.
        Criu.problem().ifPresent(why -> {
            assertTrue(why.contains("criu"), why);
            assertFalse(why.contains("\n"), why);
        });
    }
}
