package dev.flinkimageudfs.index;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The query side shared by the sync and async search functions: the shared index, the check of
 * each query vector and the metrics (group {@code index}: counters {@code queries},
 * {@code invalidQueries}; gauges {@code vectors}, {@code blocks}, {@code lastBatchSize}).
 *
 * <p>A query vector that is NULL, of the wrong length, not finite or all zeros is bad input, not a
 * reason to stop the job: it finds nothing (no row from {@code LATERAL TABLE(VECTOR_SEARCH(...))},
 * a NULL-padded row with {@code LEFT JOIN LATERAL ... ON TRUE}), with a WARN log naming the column
 * and the reason, counted in {@code invalidQueries}.
 */
final class QueryVectors implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(QueryVectors.class);

    private final IndexSearchSettings settings;
    private final SearchIndex index;
    private final Counter queries;
    private final Counter invalidQueries;

    QueryVectors(IndexSearchSettings settings, MetricGroup metrics) throws Exception {
        this.settings = settings;
        this.index = SearchIndex.acquire(settings);
        MetricGroup group = metrics.addGroup("index");
        queries = group.counter("queries");
        invalidQueries = group.counter("invalidQueries");
        group.gauge("vectors", (Gauge<Long>) index::vectors);
        group.gauge("blocks", (Gauge<Integer>) index::blocks);
        group.gauge("lastBatchSize", (Gauge<Long>) index::lastBatchSize);
    }

    SearchIndex index() {
        return index;
    }

    /** The unit-length query of {@code queryData} (field 0), or null after logging why there is none. */
    float[] vector(RowData queryData) {
        queries.inc();
        IndexSchema schema = settings.schema;
        try {
            return Vectors.normalised(queryData.isNullAt(0) ? null : queryData.getArray(0), schema.dimension);
        } catch (Vectors.InvalidVectorException e) {
            invalidQueries.inc();
            LOG.warn("image-index table {}: VECTOR_SEARCH on column '{}': the query vector {}; no rows for this query",
                    schema.tableName, schema.vectorColumn(), e.getMessage());
            return null;
        }
    }

    @Override
    public void close() {
        index.release();
    }
}
