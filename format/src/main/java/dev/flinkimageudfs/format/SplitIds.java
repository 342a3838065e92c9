package dev.flinkimageudfs.format;

import java.util.UUID;
import java.util.function.Supplier;

/**
 * Split ids unique across enumerator restarts: a random prefix per enumerator plus a counter, so
 * that splits restored from a checkpoint never share an id with newly discovered ones.
 */
final class SplitIds implements Supplier<String> {

    private final String prefix = UUID.randomUUID().toString().substring(0, 8) + "-";
    private long next;

    @Override
    public String get() {
        return prefix + next++;
    }
}
