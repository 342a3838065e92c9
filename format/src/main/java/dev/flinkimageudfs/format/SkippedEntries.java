package dev.flinkimageudfs.format;

import org.apache.flink.metrics.Counter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.Set;

/**
 * The directory entries a listing left out (dangling links, link loops, entries that vanished,
 * FIFOs...): each is logged once with its reason and counted in the enumerator's metric {@value
 * #METRIC}, however often a watching source lists it again.
 */
final class SkippedEntries implements ListedFiles.Skips {

    static final String METRIC = "skippedEntries";

    private static final Logger LOG = LoggerFactory.getLogger(SkippedEntries.class);

    private final Counter counter;
    private final Set<String> reported = new HashSet<>();

    SkippedEntries(Counter counter) {
        this.counter = counter;
    }

    @Override
    public void skipped(String path, String reason) {
        if (reported.add(path + '\0' + reason)) {
            LOG.warn("Skipping {}: {}", path, reason);
            counter.inc();
        }
    }
}
