package dev.flinkimageudfs.index;

import org.apache.flink.table.data.GenericRowData;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * A committed segment file as the search holds it: where each record's vector starts in the file
 * and every record's stored columns, in memory. The vectors themselves are read from the file when
 * a search block is compiled and when results are rescored and returned.
 */
final class Segment {

    final Path file;
    final int rows;
    private final int dimension;
    private final long[] vectorOffsets;
    private final byte[] payloads;
    private final int[] payloadStarts; // rows + 1 entries

    private Segment(Path file, int dimension, long[] vectorOffsets, byte[] payloads, int[] payloadStarts) {
        this.file = file;
        this.rows = vectorOffsets.length;
        this.dimension = dimension;
        this.vectorOffsets = vectorOffsets;
        this.payloads = payloads;
        this.payloadStarts = payloadStarts;
    }

    /** Reads and checks {@code file}: header, layout, every record, footer. */
    static Segment load(Path file, IndexSchema schema) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            Input in = new Input(channel, 0);
            long size = channel.size();
            byte[] magic = in.bytes(SegmentFormat.MAGIC.length);
            if (!Arrays.equals(magic, SegmentFormat.MAGIC)) {
                throw corrupt(file, "it does not start with the segment header");
            }
            int dimension = in.int32();
            String layout = new String(in.bytes(in.int32()), StandardCharsets.UTF_8);
            if (dimension != schema.dimension || !layout.equals(schema.layout())) {
                throw new IOException(String.format(
                        "image-index table %s: segment '%s' holds vectors of %d with columns (%s), but the table "
                                + "declares 'dimension' %d and columns (%s): use another 'path' for a different table",
                        schema.tableName, file, dimension, layout, schema.dimension, schema.layout()));
            }
            long end = size - SegmentFormat.FOOTER_BYTES;
            long vectorBytes = 4L * dimension;
            long[] offsets = new long[16];
            int[] starts = new int[17];
            byte[] payloads = new byte[1024];
            int count = 0;
            while (in.position() < end) {
                if (count == offsets.length) {
                    offsets = Arrays.copyOf(offsets, count * 2);
                    starts = Arrays.copyOf(starts, count * 2 + 1);
                }
                offsets[count] = in.position();
                in.skip(vectorBytes);
                int length = in.int32();
                if (length < 0 || in.position() + length > end) {
                    throw corrupt(file, "record " + count + " runs past the footer");
                }
                if (payloads.length - starts[count] < length) {
                    payloads = Arrays.copyOf(payloads, Math.max(payloads.length * 2, starts[count] + length));
                }
                in.read(payloads, starts[count], length);
                starts[count + 1] = starts[count] + length;
                count++;
            }
            if (in.position() != end) {
                throw corrupt(file, "the last record runs into the footer");
            }
            long declared = in.int64();
            if (!Arrays.equals(in.bytes(SegmentFormat.FOOTER_MAGIC.length), SegmentFormat.FOOTER_MAGIC) || declared != count) {
                throw corrupt(file, "its footer does not close " + count + " records");
            }
            return new Segment(file, dimension, Arrays.copyOf(offsets, count), Arrays.copyOf(payloads, starts[count]),
                    Arrays.copyOf(starts, count + 1));
        }
    }

    private static IOException corrupt(Path file, String why) {
        return new IOException("image-index: '" + file + "' is not a complete segment file: " + why);
    }

    /** Every vector, in record order. */
    void forEachVector(Consumer<float[]> consumer) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            Input in = new Input(channel, 0);
            float[] vector = new float[dimension];
            for (long offset : vectorOffsets) {
                in.seek(offset);
                in.floats(vector);
                consumer.accept(vector);
            }
        }
    }

    /** The vectors of {@code records}, read with one open of the file. */
    float[][] vectors(int[] records) throws IOException {
        float[][] result = new float[records.length][];
        ByteBuffer buffer = ByteBuffer.allocate(4 * dimension).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            for (int i = 0; i < records.length; i++) {
                buffer.clear();
                long position = vectorOffsets[records[i]];
                while (buffer.hasRemaining()) {
                    if (channel.read(buffer, position + buffer.position()) < 0) {
                        throw corrupt(file, "it ends inside record " + records[i]);
                    }
                }
                buffer.flip();
                result[i] = new float[dimension];
                buffer.asFloatBuffer().get(result[i]);
            }
        }
        return result;
    }

    GenericRowData row(int record, RowCodec codec, float[] vector) {
        return codec.decode(payloads, payloadStarts[record], payloadStarts[record + 1] - payloadStarts[record], vector);
    }

    /** Bytes of memory this segment holds on the heap (offsets and stored columns). */
    long heapBytes() {
        return 8L * vectorOffsets.length + 4L * payloadStarts.length + payloads.length;
    }

    /** Sequential little-endian reads through a 1 MiB buffer. */
    private static final class Input {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private long bufferStart;

        Input(FileChannel channel, long position) {
            this.channel = channel;
            this.bufferStart = position;
            buffer.limit(0);
        }

        long position() {
            return bufferStart + buffer.position();
        }

        void seek(long position) {
            if (position >= bufferStart && position <= bufferStart + buffer.limit()) {
                buffer.position((int) (position - bufferStart));
            } else {
                bufferStart = position;
                buffer.limit(0);
            }
        }

        void skip(long bytes) {
            seek(position() + bytes);
        }

        private void fill(int bytes) throws IOException {
            if (buffer.remaining() >= bytes) {
                return;
            }
            bufferStart += buffer.position();
            buffer.compact();
            while (buffer.position() < bytes) {
                if (channel.read(buffer, bufferStart + buffer.position()) < 0) {
                    throw new IOException("unexpected end of segment file at " + (bufferStart + buffer.position()));
                }
            }
            buffer.flip();
        }

        int int32() throws IOException {
            fill(4);
            return buffer.getInt();
        }

        long int64() throws IOException {
            fill(8);
            return buffer.getLong();
        }

        void read(byte[] into, int offset, int length) throws IOException {
            int done = 0;
            while (done < length) {
                int chunk = Math.min(length - done, buffer.capacity());
                fill(chunk);
                buffer.get(into, offset + done, chunk);
                done += chunk;
            }
        }

        byte[] bytes(int length) throws IOException {
            if (length < 0 || length > (1 << 24)) {
                throw new IOException("implausible length " + length);
            }
            byte[] bytes = new byte[length];
            read(bytes, 0, length);
            return bytes;
        }

        void floats(float[] into) throws IOException {
            int done = 0;
            while (done < into.length) {
                int chunk = Math.min(into.length - done, buffer.capacity() / 4);
                fill(4 * chunk);
                buffer.asFloatBuffer().get(into, done, chunk);
                buffer.position(buffer.position() + 4 * chunk);
                done += chunk;
            }
        }
    }
}
