package dev.flinkimageudfs.format;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.fs.Path;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;

import java.time.Duration;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;

import static dev.flinkimageudfs.format.WholeFileConnectorOptions.PARTITION_DEFAULT_NAME;
import static dev.flinkimageudfs.format.WholeFileConnectorOptions.SOURCE_CONFINE_TO_PATH;
import static dev.flinkimageudfs.format.WholeFileConnectorOptions.SOURCE_FOLLOW_DIRECTORY_LINKS;
import static dev.flinkimageudfs.format.WholeFileConnectorOptions.PATH;
import static dev.flinkimageudfs.format.WholeFileConnectorOptions.SOURCE_MONITOR_INTERVAL;
import static dev.flinkimageudfs.format.WholeFileConnectorOptions.SOURCE_SPLIT_MAX_FILES;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.MAX_FILE_SIZE;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.OVERSIZE_HANDLING;
import static dev.flinkimageudfs.format.WholeFileFormatOptions.UNREADABLE_HANDLING;

/**
 * Factory for the {@code whole-file} connector: the rows of the filesystem connector with the
 * {@code whole-file} format (one row per file, the same metadata and partition columns), read
 * with many files per split.
 *
 * <pre>{@code
 * CREATE TABLE images (image BYTES, path STRING NOT NULL METADATA FROM 'file.path')
 * WITH ('connector' = 'whole-file', 'path' = '/data/images');
 * }</pre>
 */
public class WholeFileTableFactory implements DynamicTableSourceFactory {

    public static final String IDENTIFIER = WholeFileFormatFactory.IDENTIFIER;

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.singleton(PATH);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(SOURCE_MONITOR_INTERVAL);
        options.add(SOURCE_SPLIT_MAX_FILES);
        options.add(PARTITION_DEFAULT_NAME);
        options.add(SOURCE_FOLLOW_DIRECTORY_LINKS);
        options.add(SOURCE_CONFINE_TO_PATH);
        options.add(MAX_FILE_SIZE);
        options.add(OVERSIZE_HANDLING);
        options.add(UNREADABLE_HANDLING);
        return options;
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        String contentColumn = WholeFileTables.validate(context, options, "connector", ConfigOption::key);
        if (options.get(SOURCE_SPLIT_MAX_FILES) < 1) {
            throw new ValidationException(
                    String.format(
                            "Option '%s' must be at least 1, but was %d.",
                            SOURCE_SPLIT_MAX_FILES.key(), options.get(SOURCE_SPLIT_MAX_FILES)));
        }
        Duration monitorInterval = options.getOptional(SOURCE_MONITOR_INTERVAL).orElse(null);
        if (monitorInterval != null && (monitorInterval.isNegative() || monitorInterval.isZero())) {
            throw new ValidationException(
                    String.format(
                            "Option '%s' must be positive, but was %s.",
                            SOURCE_MONITOR_INTERVAL.key(), monitorInterval));
        }
        return new WholeFileTableSource(
                new Path(options.get(PATH)),
                context.getPhysicalRowDataType(),
                context.getCatalogTable().getPartitionKeys(),
                contentColumn,
                options.get(PARTITION_DEFAULT_NAME),
                FileLoader.forConnector(
                        options.get(MAX_FILE_SIZE).getBytes(),
                        options.get(OVERSIZE_HANDLING),
                        options.get(UNREADABLE_HANDLING)),
                options.get(SOURCE_SPLIT_MAX_FILES),
                new ListingPolicy(options.get(SOURCE_FOLLOW_DIRECTORY_LINKS), options.get(SOURCE_CONFINE_TO_PATH)),
                monitorInterval);
    }
}
