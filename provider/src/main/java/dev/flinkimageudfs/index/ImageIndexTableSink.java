package dev.flinkimageudfs.index;

import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;

/** {@code INSERT INTO} an {@code image-index} table: appends only. */
final class ImageIndexTableSink implements DynamicTableSink {

    private final IndexSinkSettings settings;

    ImageIndexTableSink(IndexSinkSettings settings) {
        this.settings = settings;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
        return ChangelogMode.insertOnly();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(new IndexSink(settings));
    }

    @Override
    public DynamicTableSink copy() {
        return new ImageIndexTableSink(settings);
    }

    @Override
    public String asSummaryString() {
        return "image-index(" + settings.path + ")";
    }
}
