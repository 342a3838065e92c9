package dev.flinkimageudfs.model;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.config.ExecutionConfigOptions;
import org.apache.flink.table.api.config.MLPredictRuntimeConfigOptions;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.ResolvedCatalogModel;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.ModelProviderFactory;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.functions.PredictFunction;
import org.apache.flink.table.ml.AsyncPredictRuntimeProvider;
import org.apache.flink.table.ml.ModelProvider;
import org.apache.flink.table.ml.PredictRuntimeProvider;

import java.util.Collections;
import java.util.HashSet;
import java.util.Set;

/**
 * {@code CREATE MODEL m INPUT (image BYTES) OUTPUT (label STRING, ...) WITH ('provider' =
 * 'openvino', 'model' = 'resnet50', ...)}: an image classifier running in the TaskManager's JVM
 * with OpenVINO, no Python and no remote service. Options, INPUT and OUTPUT are checked when a
 * query using the model is planned; the model file is read where the function opens.
 */
public class OpenVinoModelProviderFactory implements ModelProviderFactory {

    public static final String IDENTIFIER = "openvino";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.emptySet();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return new HashSet<>(OpenVinoOptions.all());
    }

    @Override
    public ModelProvider createModelProvider(Context context) {
        FactoryUtil.ModelProviderFactoryHelper helper = FactoryUtil.createModelProviderFactoryHelper(this, context);
        helper.validate();
        OpenVinoOptions.warnDeprecatedKeys(
                context.getObjectIdentifier().asSummaryString(), context.getCatalogModel().getOptions());
        ClassifierSettings settings = ClassifierSettings.of(helper.getOptions());
        ResolvedCatalogModel model = context.getCatalogModel();
        ModelSchema schema = ModelSchema.of(model.getResolvedInputSchema(), model.getResolvedOutputSchema());
        if (schema.wantsEmbedding() && settings.embeddingOutput == null) {
            throw new ValidationException("Model provider 'openvino': OUTPUT column 'embedding': " + settings.noEmbeddingMessage());
        }
        int maxConcurrentOperations =
                context.getConfiguration().get(ExecutionConfigOptions.TABLE_EXEC_ASYNC_ML_PREDICT_MAX_CONCURRENT_OPERATIONS);
        return new Provider(settings, schema, maxConcurrentOperations);
    }

    /** Both runtime flavours; {@code ML_PREDICT} picks async unless its config says 'async' = 'false'. */
    public static class Provider implements PredictRuntimeProvider, AsyncPredictRuntimeProvider {

        private final ClassifierSettings settings;
        private final ModelSchema schema;
        private final int defaultMaxConcurrentOperations;

        Provider(ClassifierSettings settings, ModelSchema schema, int defaultMaxConcurrentOperations) {
            this.settings = settings;
            this.schema = schema;
            this.defaultMaxConcurrentOperations = defaultMaxConcurrentOperations;
        }

        @Override
        public PredictFunction createPredictFunction(ModelProvider.Context context) {
            return new OpenVinoPredictFunction(settings, schema);
        }

        @Override
        public AsyncPredictFunction createAsyncPredictFunction(ModelProvider.Context context) {
            ReadableConfig runtime = context.runtimeConfig();
            int maxConcurrentOperations = runtime.getOptional(MLPredictRuntimeConfigOptions.ASYNC_MAX_CONCURRENT_OPERATIONS)
                    .orElse(defaultMaxConcurrentOperations);
            return new OpenVinoAsyncPredictFunction(settings, schema, maxConcurrentOperations);
        }

        @Override
        public ModelProvider copy() {
            return new Provider(settings, schema, defaultMaxConcurrentOperations);
        }
    }
}
