package dev.flinkimageudfs.index;

import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.VectorSearchFunction;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.Collection;
import java.util.Collections;
import java.util.concurrent.ExecutionException;

/**
 * {@code VECTOR_SEARCH} with {@code MAP['async', 'false']}: one query at a time per subtask
 * (queries of other subtasks sharing the index are still batched together). Public: the planner's
 * generated code instantiates it.
 */
public class IndexSearchFunction extends VectorSearchFunction {

    private static final long serialVersionUID = 1L;

    private final IndexSearchSettings settings;
    private transient QueryVectors queries;

    IndexSearchFunction(IndexSearchSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        super.open(context);
        queries = new QueryVectors(settings, context.getMetricGroup());
    }

    @Override
    public Collection<RowData> vectorSearch(int topK, RowData queryData) throws IOException {
        float[] vector = queries.vector(queryData);
        if (vector == null || topK < 1) {
            return Collections.emptyList();
        }
        try {
            return queries.index().search(vector, topK).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while searching");
        } catch (ExecutionException e) {
            throw new IOException(e.getCause().getMessage(), e.getCause());
        }
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
