package dev.bollard.cli;

import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A real-process test class whose leftovers are checked once it is done: {@link LeakCheckExtension} fails the class
 * when something of its daemons' (processes, mounts, netns, cgroups, runc state, CNI allocations, iptables rules)
 * outlives it. Inherited, so {@link PodNodeTest}'s subclasses are all checked.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@Inherited
@ExtendWith(LeakCheckExtension.class)
@interface LeakChecked {
}
