package dev.flinkimageudfs.model;

import dev.flinkimageudfs.model.image.ImageDecodeException;
import dev.flinkimageudfs.model.openvino.BatchingInferQueue;
import dev.flinkimageudfs.model.openvino.ModelSpec;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.functions.FunctionContext;

import java.util.Collection;
import java.util.Collections;
import java.util.concurrent.CompletableFuture;

/**
 * {@code ML_PREDICT} in async mode (the default): each row is decoded and cropped on the task
 * thread as it arrives, then joins a batch of OpenVINO asynchronous infer requests
 * ({@link BatchingInferQueue}), so decoding the next images overlaps with inference of the last
 * ones. Flink keeps up to 'max-concurrent-operations' rows in flight per subtask; the automatic
 * batch size is half of that (at most 8), so one batch can fill while another runs. Output order
 * follows Flink's async output mode (ordered by default). Public: the planner's generated code
 * instantiates it.
 */
public class OpenVinoAsyncPredictFunction extends AsyncPredictFunction {

    private static final long serialVersionUID = 1L;

    private final ClassifierSettings settings;
    private final ModelSchema schema;
    private final int maxConcurrentOperations;
    private transient ImageClassifier classifier;
    private transient BatchingInferQueue queue;
    private transient Counter images;
    private transient Counter errors;
    private transient Histogram batchSizes;

    OpenVinoAsyncPredictFunction(ClassifierSettings settings, ModelSchema schema, int maxConcurrentOperations) {
        this.settings = settings;
        this.schema = schema;
        this.maxConcurrentOperations = maxConcurrentOperations;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        super.open(context);
        int autoBatchSize = Math.max(1, Math.min(ModelSpec.AUTO_BATCH_SIZE, maxConcurrentOperations / 2));
        classifier = new ImageClassifier(settings, settings.batchSize, autoBatchSize);
        int requests = settings.inferRequests > 0 ? settings.inferRequests : classifier.model().optimalInferRequests();
        images = context.getMetricGroup().addGroup("classify").counter("images");
        errors = context.getMetricGroup().addGroup("classify").counter("errors");
        batchSizes = context.getMetricGroup().addGroup("classify")
                .histogram("batchSize", new DescriptiveStatisticsHistogram(1000));
        queue = new BatchingInferQueue(
                classifier.model(),
                requests,
                "openvino-infer-" + context.getTaskInfo().getIndexOfThisSubtask(),
                size -> batchSizes.update(size));
    }

    @Override
    public CompletableFuture<Collection<RowData>> asyncPredict(RowData input) {
        CompletableFuture<Collection<RowData>> result = new CompletableFuture<>();
        images.inc();
        byte[] crop;
        try {
            crop = classifier.prepare(input.isNullAt(0) ? null : input.getBinary(0));
        } catch (ImageDecodeException e) {
            errors.inc();
            result.complete(Collections.singletonList(schema.toRow(Prediction.error(e.getMessage()))));
            return result;
        }
        queue.submit(crop, new BatchingInferQueue.Callback() {
            @Override
            public void done(float[] probabilities) {
                result.complete(Collections.singletonList(schema.toRow(classifier.predict(probabilities))));
            }

            @Override
            public void failed(Throwable error) {
                result.completeExceptionally(error);
            }
        });
        return result;
    }

    /**
     * Also on cancellation (the task thread interrupted): the queue stops its requests first; if
     * they did not stop in time, the compiled model they belong to is kept rather than freed.
     */
    @Override
    public void close() throws Exception {
        boolean requestsFreed = true;
        if (queue != null) {
            requestsFreed = queue.close();
            queue = null;
        }
        if (classifier != null) {
            classifier.close(requestsFreed);
            classifier = null;
        }
        super.close();
    }
}
