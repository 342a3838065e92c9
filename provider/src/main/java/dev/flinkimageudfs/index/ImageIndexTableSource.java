package dev.flinkimageudfs.index;

import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.VectorSearchTableSource;
import org.apache.flink.table.connector.source.search.AsyncVectorSearchFunctionProvider;
import org.apache.flink.table.connector.source.search.VectorSearchFunctionProvider;
import org.apache.flink.table.functions.AsyncVectorSearchFunction;
import org.apache.flink.table.functions.VectorSearchFunction;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code VECTOR_SEARCH(TABLE t, DESCRIPTOR(vector_column), query, k)} over an {@code image-index}
 * table: the stored rows whose vectors have the highest cosine with the query, best first, each
 * followed by its score (DOUBLE, the cosine in [-1, 1]).
 */
final class ImageIndexTableSource implements VectorSearchTableSource {

    private final IndexSearchSettings settings;

    ImageIndexTableSource(IndexSearchSettings settings) {
        this.settings = settings;
    }

    @Override
    public VectorSearchRuntimeProvider getSearchRuntimeProvider(VectorSearchContext context) {
        int[][] columns = context.getSearchColumns();
        IndexSchema schema = settings.schema;
        if (columns.length != 1 || columns[0].length != 1 || columns[0][0] != schema.vectorIndex) {
            List<String> named = new ArrayList<>();
            for (int[] path : columns) {
                named.add(path.length == 1 && path[0] < schema.columnCount() ? schema.names.get(path[0]) : "?");
            }
            throw new ValidationException(String.format(
                    "image-index table %s searches its vector column only: DESCRIPTOR(%s), got DESCRIPTOR(%s)",
                    schema.tableName, schema.vectorColumn(), String.join(", ", named)));
        }
        return new Provider(settings);
    }

    /** Both runtime flavours; VECTOR_SEARCH picks async unless its config map says 'async' = 'false'. */
    static final class Provider implements VectorSearchFunctionProvider, AsyncVectorSearchFunctionProvider {
        private final IndexSearchSettings settings;

        Provider(IndexSearchSettings settings) {
            this.settings = settings;
        }

        @Override
        public VectorSearchFunction createVectorSearchFunction() {
            return new IndexSearchFunction(settings);
        }

        @Override
        public AsyncVectorSearchFunction createAsyncVectorSearchFunction() {
            return new IndexAsyncSearchFunction(settings);
        }
    }

    @Override
    public DynamicTableSource copy() {
        return new ImageIndexTableSource(settings);
    }

    @Override
    public String asSummaryString() {
        return "image-index(" + settings.path + ")";
    }
}
