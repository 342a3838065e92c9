package dev.flinkimageudfs.format;

import dev.flinkimageudfs.format.FileRowLayout.Field;

import org.apache.flink.core.fs.Path;
import org.apache.flink.streaming.api.legacy.io.CollectionInputFormat;
import org.apache.flink.table.api.TableException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.InputFormatProvider;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.SourceProvider;
import org.apache.flink.table.connector.source.abilities.SupportsPartitionPushDown;
import org.apache.flink.table.connector.source.abilities.SupportsProjectionPushDown;
import org.apache.flink.table.connector.source.abilities.SupportsReadingMetadata;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.utils.PartitionPathUtils;

import javax.annotation.Nullable;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The {@code whole-file} connector's table source: a {@link WholeFileSource} producing the
 * projected physical columns (content, partition columns) followed by the requested metadata.
 * Partitions are pruned as in the filesystem connector: only the folders of the partitions a
 * query's filter keeps are listed.
 */
final class WholeFileTableSource
        implements ScanTableSource,
                SupportsProjectionPushDown,
                SupportsReadingMetadata,
                SupportsPartitionPushDown {

    private final Path root;
    private final DataType physicalRowDataType;
    private final List<String> partitionKeys;
    private final String contentColumn;
    private final String defaultPartitionName;
    private final FileLoader loader;
    private final int maxFilesPerSplit;
    private final ListingPolicy listingPolicy;
    @Nullable private final Duration monitorInterval;

    // set by the planner
    @Nullable private List<Map<String, String>> partitions; // of a partitioned table, once listed
    private int[][] projection;
    private List<String> metadataKeys = Collections.emptyList();
    private DataType producedDataType;

    WholeFileTableSource(
            Path root,
            DataType physicalRowDataType,
            List<String> partitionKeys,
            String contentColumn,
            String defaultPartitionName,
            FileLoader loader,
            int maxFilesPerSplit,
            ListingPolicy listingPolicy,
            @Nullable Duration monitorInterval) {
        this.root = root;
        this.listingPolicy = listingPolicy;
        this.physicalRowDataType = physicalRowDataType;
        this.partitionKeys = partitionKeys;
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
        Path[] roots = roots();
        if (roots.length == 0) { // every partition pruned: as the filesystem connector does
            return InputFormatProvider.of(new CollectionInputFormat<>(new ArrayList<>(), null));
        }
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
                new WholeFileSource(roots, format, maxFilesPerSplit, listingPolicy, monitorInterval));
    }

    /**
     * The folders to read: the table's path, or for a partitioned table (as the filesystem
     * connector) the folders of the partitions left after pruning.
     */
    private Path[] roots() {
        if (partitionKeys.isEmpty()) {
            return new Path[] {root};
        }
        if (partitions == null) {
            partitions = listPartitions().get();
        }
        return partitions.stream()
                .map(
                        partition -> {
                            LinkedHashMap<String, String> spec = new LinkedHashMap<>();
                            for (String key : partitionKeys) {
                                String value = partition.get(key);
                                spec.put(key, value == null ? defaultPartitionName : value);
                            }
                            return new Path(root, PartitionPathUtils.generatePartitionPath(spec));
                        })
                .toArray(Path[]::new);
    }

    /** The {@code key=value} folders under the path; other entries at that depth are ignored. */
    @Override
    public Optional<List<Map<String, String>>> listPartitions() {
        try {
            return Optional.of(
                    PartitionPathUtils.searchPartSpecAndPaths(
                                    root.getFileSystem(), root, partitionKeys.size())
                            .stream()
                            .filter(specAndPath -> specAndPath.f0.size() == partitionKeys.size())
                            .map(specAndPath -> withNulls(specAndPath.f0))
                            .collect(Collectors.toList()));
        } catch (IOException e) {
            throw new TableException("Cannot list the partitions under " + root, e);
        }
    }

    private Map<String, String> withNulls(Map<String, String> spec) {
        Map<String, String> partition = new LinkedHashMap<>();
        spec.forEach((k, v) -> partition.put(k, defaultPartitionName.equals(v) ? null : v));
        return partition;
    }

    @Override
    public void applyPartitions(List<Map<String, String>> remainingPartitions) {
        this.partitions = remainingPartitions;
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
                        partitionKeys,
                        contentColumn,
                        defaultPartitionName,
                        loader,
                        maxFilesPerSplit,
                        listingPolicy,
                        monitorInterval);
        copy.partitions = partitions;
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
