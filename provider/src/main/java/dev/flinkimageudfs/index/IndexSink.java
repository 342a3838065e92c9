package dev.flinkimageudfs.index;

import org.apache.flink.api.connector.sink2.Committer;
import org.apache.flink.api.connector.sink2.CommitterInitContext;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.SupportsCommitter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.table.data.RowData;

import java.io.IOException;

/** The sink of an {@code image-index} table: writers seal segment files, the committer publishes them. */
final class IndexSink implements Sink<RowData>, SupportsCommitter<PendingSegment> {

    private static final long serialVersionUID = 1L;

    private final IndexSinkSettings settings;

    IndexSink(IndexSinkSettings settings) {
        this.settings = settings;
    }

    @Override
    public SinkWriter<RowData> createWriter(WriterInitContext context) throws IOException {
        return new IndexSinkWriter(settings, context.getTaskInfo().getIndexOfThisSubtask(), context.metricGroup());
    }

    @Override
    public Committer<PendingSegment> createCommitter(CommitterInitContext context) {
        return new SegmentCommitter();
    }

    @Override
    public SimpleVersionedSerializer<PendingSegment> getCommittableSerializer() {
        return new PendingSegment.Serializer();
    }
}
