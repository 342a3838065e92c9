package dev.flinkimageudfs.index;

import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncVectorSearchFunction;
import org.apache.flink.table.functions.FunctionContext;

import java.util.Collection;
import java.util.Collections;
import java.util.concurrent.CompletableFuture;

/**
 * {@code VECTOR_SEARCH} in async mode (the default): each query joins the shared index's queue
 * and is scanned with whatever other queries wait at that moment, so up to
 * 'max-concurrent-operations' queries of this subtask share one pass over the stored vectors.
 * Public: the planner's generated code instantiates it.
 */
public class IndexAsyncSearchFunction extends AsyncVectorSearchFunction {

    private static final long serialVersionUID = 1L;

    private final IndexSearchSettings settings;
    private transient QueryVectors queries;

    IndexAsyncSearchFunction(IndexSearchSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        super.open(context);
        queries = new QueryVectors(settings, context.getMetricGroup());
    }

    @Override
    public CompletableFuture<Collection<RowData>> asyncVectorSearch(int topK, RowData queryData) {
        float[] vector = queries.vector(queryData);
        if (vector == null || topK < 1) {
            return CompletableFuture.completedFuture(Collections.emptyList());
        }
        return queries.index().search(vector, topK);
    }

    @Override
    public void close() throws Exception {
        if (queries != null) {
            queries.close();
            queries = null;
        }
        super.close();
    }
}
