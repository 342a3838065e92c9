package dev.flinkimageudfs.index;

import org.apache.flink.core.io.SimpleVersionedSerializer;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;

/** A sealed in-progress segment file waiting for its checkpoint to complete: what the committer renames. */
final class PendingSegment {

    final Path inProgress;
    final Path committed;
    final long rows;

    PendingSegment(Path inProgress, Path committed, long rows) {
        this.inProgress = inProgress;
        this.committed = committed;
        this.rows = rows;
    }

    @Override
    public String toString() {
        return committed.getFileName() + " (" + rows + " vectors)";
    }

    /** Kept in checkpoints between a checkpoint and its commit. */
    static final class Serializer implements SimpleVersionedSerializer<PendingSegment> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(PendingSegment segment) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                out.writeUTF(segment.inProgress.toString());
                out.writeUTF(segment.committed.toString());
                out.writeLong(segment.rows);
            }
            return bytes.toByteArray();
        }

        @Override
        public PendingSegment deserialize(int version, byte[] serialized) throws IOException {
            if (version != 1) {
                throw new IOException("image-index: unknown pending segment version " + version);
            }
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
                return new PendingSegment(Paths.get(in.readUTF()), Paths.get(in.readUTF()), in.readLong());
            }
        }
    }
}
