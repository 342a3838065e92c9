package dev.flinkimageudfs.index;

import org.apache.flink.api.connector.sink2.Committer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.Collection;

/**
 * Makes sealed segment files visible once their checkpoint has completed (or at the end of a
 * batch job) by renaming them to their committed name. Idempotent: after a restore Flink commits
 * the restored checkpoint's files again, and a file already renamed counts as committed.
 */
final class SegmentCommitter implements Committer<PendingSegment> {

    private static final Logger LOG = LoggerFactory.getLogger(SegmentCommitter.class);

    @Override
    public void commit(Collection<CommitRequest<PendingSegment>> requests) throws IOException {
        for (CommitRequest<PendingSegment> request : requests) {
            PendingSegment segment = request.getCommittable();
            if (Files.exists(segment.committed)) {
                request.signalAlreadyCommitted();
            } else if (!Files.exists(segment.inProgress)) {
                request.signalFailedWithKnownReason(new IOException(
                        "image-index: cannot commit " + segment + ": its file " + segment.inProgress + " is gone"));
            } else {
                try {
                    Files.move(segment.inProgress, segment.committed, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    throw new IOException("image-index: the file system of " + segment.committed.getParent()
                            + " cannot rename atomically, which committing segments needs", e);
                }
                LOG.info("Committed segment {}", segment);
            }
        }
    }

    @Override
    public void close() {}
}
