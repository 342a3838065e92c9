package dev.flinkimageudfs.model;

import dev.flinkimageudfs.model.image.ImageDecodeException;
import dev.flinkimageudfs.model.openvino.InferRequest;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.PredictFunction;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collection;
import java.util.Collections;

/**
 * {@code ML_PREDICT(..., MAP['async', 'false'])}: one image at a time, synchronously, each in its
 * own infer request of one image (the call returns its row before the next row arrives, so there
 * is nothing to batch). A row whose image cannot be classified gets an output row with only
 * {@code error} set. Public: the planner's generated code instantiates it.
 */
public class OpenVinoPredictFunction extends PredictFunction {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(OpenVinoPredictFunction.class);

    private final ClassifierSettings settings;
    private final ModelSchema schema;
    private transient ImageClassifier classifier;
    private transient InferRequest request;
    private transient Counter images;
    private transient Counter errors;

    OpenVinoPredictFunction(ClassifierSettings settings, ModelSchema schema) {
        this.settings = settings;
        this.schema = schema;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        super.open(context);
        if (settings.batchSize > 1) {
            LOG.info("Synchronous ML_PREDICT infers one image per request; 'batch-size' applies to async mode");
        }
        classifier = new ImageClassifier(settings, 1, 1, schema.wantsEmbedding());
        request = classifier.model().newRequest(classifier.embedding());
        images = context.getMetricGroup().addGroup("classify").counter("images");
        errors = context.getMetricGroup().addGroup("classify").counter("errors");
    }

    @Override
    public Collection<RowData> predict(RowData input) {
        Prediction prediction;
        try {
            request.putImage(0, classifier.prepare(input.isNullAt(0) ? null : input.getBinary(0)));
            request.infer();
            prediction = classifier.predict(request.probabilities(0), request.embedding(0));
        } catch (ImageDecodeException e) {
            prediction = Prediction.error(e.getMessage());
            errors.inc();
        }
        images.inc();
        return Collections.singletonList(schema.toRow(prediction));
    }

    @Override
    public void close() throws Exception {
        if (request != null) {
            request.close();
            request = null;
        }
        if (classifier != null) {
            classifier.close();
            classifier = null;
        }
        super.close();
    }
}
