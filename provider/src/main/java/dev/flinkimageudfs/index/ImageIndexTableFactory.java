package dev.flinkimageudfs.index;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;

import java.util.HashSet;
import java.util.Set;

/**
 * {@code CREATE TABLE seen (path STRING, embedding ARRAY<FLOAT>, ...) WITH ('connector' =
 * 'image-index', 'path' = '/data/index', 'dimension' = '2048')}: {@code INSERT INTO seen} stores
 * vectors exactly once (segment files committed with checkpoints), {@code VECTOR_SEARCH(TABLE
 * seen, ...)} finds the stored rows nearest a query vector, exactly, with OpenVINO. Options and
 * columns are checked when a statement using the table is planned.
 */
public class ImageIndexTableFactory implements DynamicTableSourceFactory, DynamicTableSinkFactory {

    public static final String IDENTIFIER = "image-index";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return new HashSet<>(ImageIndexOptions.required());
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return new HashSet<>(ImageIndexOptions.optional());
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        ReadableConfig options = validated(FactoryUtil.createTableFactoryHelper(this, context));
        IndexSchema schema = schema(context, options);
        return new ImageIndexTableSink(new IndexSinkSettings(schema, options.get(ImageIndexOptions.PATH),
                options.get(ImageIndexOptions.SINK_INVALID_VECTOR), options.get(ImageIndexOptions.SINK_SEGMENT_MAX_VECTORS)));
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        ReadableConfig options = validated(FactoryUtil.createTableFactoryHelper(this, context));
        IndexSchema schema = schema(context, options);
        return new ImageIndexTableSource(new IndexSearchSettings(schema, options.get(ImageIndexOptions.PATH),
                options.get(ImageIndexOptions.SEARCH_PRECISION),
                options.get(ImageIndexOptions.SEARCH_REFRESH_INTERVAL).toMillis(),
                options.get(ImageIndexOptions.SEARCH_MAX_BATCH_SIZE), options.get(ImageIndexOptions.SEARCH_BLOCK_SIZE),
                options.get(ImageIndexOptions.LIBRARY_PATH)));
    }

    private static ReadableConfig validated(FactoryUtil.TableFactoryHelper helper) {
        helper.validate();
        ImageIndexOptions.validate(helper.getOptions());
        return helper.getOptions();
    }

    private static IndexSchema schema(Context context, ReadableConfig options) {
        return IndexSchema.of(context.getObjectIdentifier().asSummaryString(),
                context.getCatalogTable().getResolvedSchema(),
                options.getOptional(ImageIndexOptions.VECTOR_COLUMN).orElse(null),
                options.get(ImageIndexOptions.DIMENSION));
    }
}
