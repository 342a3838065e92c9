package dev.flinkimageudfs.index;

import dev.flinkimageudfs.model.openvino.VectorSearchModel;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/**
 * Consecutive segments compiled into one OpenVINO search graph. Blocks never change: adding
 * vectors adds blocks, merging replaces several blocks by one (see {@link BlockPlanner}).
 */
final class Block implements AutoCloseable {

    final List<Segment> segments;
    final int rows;
    private final int[] starts; // first block row of each segment
    final VectorSearchModel model;

    private Block(List<Segment> segments, int[] starts, int rows, VectorSearchModel model) {
        this.segments = segments;
        this.starts = starts;
        this.rows = rows;
        this.model = model;
    }

    static Block compile(List<Segment> segments, IndexSearchSettings settings) throws IOException {
        int[] starts = new int[segments.size()];
        long rows = 0;
        for (int i = 0; i < segments.size(); i++) {
            starts[i] = (int) rows;
            rows += segments.get(i).rows;
        }
        if (rows > Integer.MAX_VALUE / 2) {
            throw new IOException("image-index: a block of " + rows + " vectors is too large; lower 'search.block-size'");
        }
        VectorSearchModel.Builder builder = VectorSearchModel.builder(
                settings.libraryPath, settings.schema.dimension, (int) rows, settings.storage());
        try {
            for (Segment segment : segments) {
                segment.forEachVector(builder::add);
            }
            return new Block(List.copyOf(segments), starts, (int) rows, builder.compile("CPU"));
        } finally {
            builder.close();
        }
    }

    /** Index into {@link #segments} of block row {@code row}. */
    int segmentIndex(int row) {
        int found = Arrays.binarySearch(starts, row);
        return found >= 0 ? found : -found - 2;
    }

    int record(int row, int segmentIndex) {
        return row - starts[segmentIndex];
    }

    @Override
    public void close() {
        model.close();
    }
}
