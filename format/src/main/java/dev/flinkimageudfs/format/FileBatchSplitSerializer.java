package dev.flinkimageudfs.format;

import org.apache.flink.connector.file.src.util.CheckpointedPosition;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;

/** Serializes {@link FileBatchSplit}s for checkpoints and for the enumerator-to-reader events. */
public final class FileBatchSplitSerializer implements SimpleVersionedSerializer<FileBatchSplit> {

    public static final FileBatchSplitSerializer INSTANCE = new FileBatchSplitSerializer();

    private static final int VERSION = 1;

    private FileBatchSplitSerializer() {}

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(FileBatchSplit split) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64 + 48 * split.fileCount());
        out.writeUTF(split.splitId());
        out.writeUTF(split.root().toUri().toString());
        out.writeInt(split.fileCount());
        for (int i = 0; i < split.fileCount(); i++) {
            out.writeUTF(split.relativePath(i));
            out.writeLong(split.fileSize(i));
            out.writeLong(split.modificationTime(i));
        }
        CheckpointedPosition position = split.getReaderPosition().orElse(null);
        out.writeBoolean(position != null);
        if (position != null) {
            out.writeLong(position.getOffset());
            out.writeLong(position.getRecordsAfterOffset());
        }
        return out.getCopyOfBuffer();
    }

    @Override
    public FileBatchSplit deserialize(int version, byte[] serialized) throws IOException {
        if (version != VERSION) {
            throw new IOException("Unknown FileBatchSplit serializer version " + version);
        }
        DataInputDeserializer in = new DataInputDeserializer(serialized);
        String id = in.readUTF();
        Path root;
        try {
            root = new Path(new URI(in.readUTF()));
        } catch (URISyntaxException e) {
            throw new IOException("Corrupt FileBatchSplit root", e);
        }
        int count = in.readInt();
        String[] relativePaths = new String[count];
        long[] sizes = new long[count];
        long[] modificationTimes = new long[count];
        for (int i = 0; i < count; i++) {
            relativePaths[i] = in.readUTF();
            sizes[i] = in.readLong();
            modificationTimes[i] = in.readLong();
        }
        CheckpointedPosition position =
                in.readBoolean() ? new CheckpointedPosition(in.readLong(), in.readLong()) : null;
        return new FileBatchSplit(id, root, relativePaths, sizes, modificationTimes, position);
    }
}
