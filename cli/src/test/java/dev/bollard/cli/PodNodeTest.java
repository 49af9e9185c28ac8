package dev.bollard.cli;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/** A test class that runs its tests on one {@link PodTestNode}: started before the first, checked and closed after the last. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@LeakChecked
abstract class PodNodeTest {

    protected PodTestNode node;

    @BeforeAll
    void startNode() throws Exception {
        node = PodTestNode.start();
    }

    @AfterAll
    void closeNode() throws Exception {
        if (node != null) {
            node.close();
        }
    }
}
