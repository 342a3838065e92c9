package dev.flinkimageudfs.index;

import dev.flinkimageudfs.index.ImageIndexOptions.InvalidVectorHandling;

import org.apache.flink.api.connector.sink2.CommittingSinkWriter;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * One sink subtask: checks and normalises each row's vector and appends it with the other columns
 * to an in-progress segment file; a checkpoint (or the end of a batch job) seals the file and hands
 * it to {@link SegmentCommitter}. A failure loses only in-progress files, whose rows the source
 * replays from the last checkpoint: every row is stored exactly once.
 */
final class IndexSinkWriter implements CommittingSinkWriter<RowData, PendingSegment> {

    private static final Logger LOG = LoggerFactory.getLogger(IndexSinkWriter.class);

    private final IndexSinkSettings settings;
    private final int subtask;
    private final RowCodec codec;
    private final Counter vectors;
    private final Counter invalidVectors;
    private final List<PendingSegment> sealed = new ArrayList<>();
    private SegmentFileWriter current;
    private String currentName;

    IndexSinkWriter(IndexSinkSettings settings, int subtask, MetricGroup metrics) throws IOException {
        this.settings = settings;
        this.subtask = subtask;
        this.codec = new RowCodec(settings.schema);
        MetricGroup group = metrics.addGroup("index");
        vectors = group.counter("vectors");
        invalidVectors = group.counter("invalidVectors");
        Files.createDirectories(settings.folder());
    }

    @Override
    public void write(RowData row, Context context) throws IOException {
        IndexSchema schema = settings.schema;
        float[] vector;
        try {
            vector = Vectors.normalised(row.isNullAt(schema.vectorIndex) ? null : row.getArray(schema.vectorIndex), schema.dimension);
        } catch (Vectors.InvalidVectorException e) {
            String message = String.format("image-index table %s: column '%s' %s", schema.tableName, schema.vectorColumn(), e.getMessage());
            if (settings.invalidVectors == InvalidVectorHandling.FAIL) {
                throw new IllegalArgumentException(message + " (option 'sink.invalid-vector' = 'fail')");
            }
            invalidVectors.inc();
            LOG.warn("{}: row not stored ({}); 'sink.invalid-vector' = 'fail' fails the job instead", message, describe(row));
            return;
        }
        if (current == null) {
            currentName = SegmentFormat.newName(subtask);
            current = new SegmentFileWriter(SegmentFormat.inProgress(settings.folder(), currentName), schema);
        }
        current.append(vector, codec.encode(row));
        vectors.inc();
        if (current.rows() >= settings.segmentMaxVectors) {
            seal();
        }
    }

    /** The stored columns of a row, for log lines (strings and numbers only, no bytes). */
    private String describe(RowData row) {
        IndexSchema schema = settings.schema;
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < schema.columnCount(); i++) {
            if (i == schema.vectorIndex) {
                continue;
            }
            Object value = RowData.createFieldGetter(schema.types.get(i), i).getFieldOrNull(row);
            if (value instanceof byte[]) {
                value = ((byte[]) value).length + " bytes";
            }
            text.append(text.length() == 0 ? "" : ", ").append(schema.names.get(i)).append('=').append(value);
        }
        return text.toString();
    }

    private void seal() throws IOException {
        current.finish();
        sealed.add(new PendingSegment(current.file(), settings.folder().resolve(currentName), current.rows()));
        current = null;
    }

    @Override
    public void flush(boolean endOfInput) {}

    @Override
    public Collection<PendingSegment> prepareCommit() throws IOException {
        if (current != null) {
            seal();
        }
        List<PendingSegment> result = new ArrayList<>(sealed);
        sealed.clear();
        return result;
    }

    /** Cancelled or failed before the checkpoint: the in-progress file goes (its rows are replayed). */
    @Override
    public void close() throws IOException {
        if (current != null) {
            Path file = current.file();
            current.abort();
            current = null;
            LOG.info("Deleted uncommitted segment {}", file);
        }
    }
}
