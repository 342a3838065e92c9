package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.FileRowLayout.Field;

import org.apache.flink.core.fs.Path;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.SourceProvider;
import org.apache.flink.table.connector.source.abilities.SupportsProjectionPushDown;
import org.apache.flink.table.connector.source.abilities.SupportsReadingMetadata;
import org.apache.flink.table.types.DataType;

import javax.annotation.Nullable;

import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The {@code whole-file} connector's table source: a {@link WholeFileSource} producing the
 * projected physical columns (content, partition columns) followed by the requested metadata.
 */
final class WholeFileTableSource
        implements ScanTableSource, SupportsProjectionPushDown, SupportsReadingMetadata {

    private final Path root;
    private final DataType physicalRowDataType;
    private final String contentColumn;
    private final String defaultPartitionName;
    private final FileLoader loader;
    private final int maxFilesPerSplit;
    @Nullable private final Duration monitorInterval;

    // set by the planner
    private int[][] projection;
    private List<String> metadataKeys = Collections.emptyList();
    private DataType producedDataType;

    WholeFileTableSource(
            Path root,
            DataType physicalRowDataType,
            String contentColumn,
            String defaultPartitionName,
            FileLoader loader,
            int maxFilesPerSplit,
            @Nullable Duration monitorInterval) {
        this.root = root;
        this.physicalRowDataType = physicalRowDataType;
        this.contentColumn = contentColumn;
        this.defaultPartitionName = defaultPartitionName;
        this.loader = loader;
        this.maxFilesPerSplit = maxFilesPerSplit;
        this.monitorInterval = monitorInterval;
        this.projection = Projection.all(physicalRowDataType).toNestedIndexes();
        this.producedDataType = physicalRowDataType;
    }

    @Override
    public ChangelogMode getChangelogMode() {
        return ChangelogMode.insertOnly();
    }

    @Override
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
        List<String> names = DataType.getFieldNames(physicalRowDataType);
        List<DataType> types = DataType.getFieldDataTypes(physicalRowDataType);
        int arity = projection.length + metadataKeys.size();
        Field[] fields = new Field[arity];
        String[] partitionColumns = new String[arity];
        DataType[] partitionTypes = new DataType[arity];
        for (int i = 0; i < projection.length; i++) {
            String name = names.get(projection[i][0]);
            if (name.equals(contentColumn)) {
                fields[i] = Field.CONTENT;
            } else { // validated: every other physical column is a partition column
                fields[i] = Field.PARTITION;
                partitionColumns[i] = name;
                partitionTypes[i] = types.get(projection[i][0]);
            }
        }
        for (int i = 0; i < metadataKeys.size(); i++) {
            fields[projection.length + i] = Field.ofMetadataKey(metadataKeys.get(i));
        }
        FileBatchFormat format =
                new FileBatchFormat(
                        context.createTypeInformation(producedDataType),
                        new FileRowLayout(
                                fields, partitionColumns, partitionTypes, defaultPartitionName),
                        loader);
        return SourceProvider.of(
                new WholeFileSource(new Path[] {root}, format, maxFilesPerSplit, monitorInterval));
    }

    @Override
    public boolean supportsNestedProjection() {
        return false;
    }

    @Override
    public void applyProjection(int[][] projectedFields, DataType producedDataType) {
        this.projection = projectedFields;
        this.producedDataType = producedDataType;
    }

    @Override
    public Map<String, DataType> listReadableMetadata() {
        return FileRowLayout.METADATA;
    }

    @Override
    public void applyReadableMetadata(List<String> metadataKeys, DataType producedDataType) {
        this.metadataKeys = metadataKeys;
        this.producedDataType = producedDataType;
    }

    @Override
    public DynamicTableSource copy() {
        WholeFileTableSource copy =
                new WholeFileTableSource(
                        root,
                        physicalRowDataType,
                        contentColumn,
                        defaultPartitionName,
                        loader,
                        maxFilesPerSplit,
                        monitorInterval);
        copy.projection = projection;
        copy.metadataKeys = metadataKeys;
        copy.producedDataType = producedDataType;
        return copy;
    }

    @Override
    public String asSummaryString() {
        return "WholeFile";
    }
}
