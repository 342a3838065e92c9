package dev.flinkimageudfs.index;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Appends records to one new segment file ({@link SegmentFormat}); {@link #finish} seals it. */
final class SegmentFileWriter {

    private final Path file;
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    private long rows;

    SegmentFileWriter(Path file, IndexSchema schema) throws IOException {
        this.file = file;
        channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        byte[] layout = schema.layout().getBytes(StandardCharsets.UTF_8);
        ensure(SegmentFormat.MAGIC.length + 8 + layout.length);
        buffer.put(SegmentFormat.MAGIC).putInt(schema.dimension).putInt(layout.length).put(layout);
    }

    Path file() {
        return file;
    }

    long rows() {
        return rows;
    }

    void append(float[] vector, byte[] payload) throws IOException {
        ensure(4 * vector.length);
        buffer.asFloatBuffer().put(vector);
        buffer.position(buffer.position() + 4 * vector.length);
        ensure(4);
        buffer.putInt(payload.length);
        if (payload.length > buffer.capacity()) {
            drain();
            writeFully(ByteBuffer.wrap(payload));
        } else {
            ensure(payload.length);
            buffer.put(payload);
        }
        rows++;
    }

    /** Writes the footer and forces the file to disk; the file is complete afterwards. */
    void finish() throws IOException {
        try {
            ensure(SegmentFormat.FOOTER_BYTES);
            buffer.putLong(rows).put(SegmentFormat.FOOTER_MAGIC);
            drain();
            channel.force(true);
        } finally {
            channel.close();
        }
    }

    /** Closes and deletes the file (rows written since the last checkpoint are replayed). */
    void abort() throws IOException {
        channel.close();
        Files.deleteIfExists(file);
    }

    private void ensure(int bytes) throws IOException {
        if (buffer.remaining() < bytes) {
            drain();
        }
    }

    private void drain() throws IOException {
        buffer.flip();
        writeFully(buffer);
        buffer.clear();
    }

    private void writeFully(ByteBuffer data) throws IOException {
        while (data.hasRemaining()) {
            channel.write(data);
        }
    }
}
