package dev.flinkimageudfs.model;

import java.util.List;

/**
 * The result for one image, as {@code udfs.classifier.Prediction}: either a classification (the
 * best class plus the top-k, best first) or an error, never both.
 */
public final class Prediction {

    /** The error of a row whose image is NULL (the same text as the pandas UDF's). */
    static final String NULL_IMAGE_ERROR = PresetCatalog.get().rule("null_image_error").asText();

    public final String label;
    public final Integer classId;
    public final Float probability;
    public final String[] topLabels;
    public final int[] topClassIds;
    public final float[] topProbabilities;
    public final String error;

    private Prediction(String[] topLabels, int[] topClassIds, float[] topProbabilities, String error) {
        boolean classified = error == null;
        this.label = classified ? topLabels[0] : null;
        this.classId = classified ? topClassIds[0] : null;
        this.probability = classified ? topProbabilities[0] : null;
        this.topLabels = topLabels;
        this.topClassIds = topClassIds;
        this.topProbabilities = topProbabilities;
        this.error = error;
    }

    static Prediction error(String message) {
        return new Prediction(null, null, null, message);
    }

    /**
     * The best classes of {@code scores} (one per output of the model; the first
     * {@code labelOffset} are "background" and dropped, so ids are 0..N-1): the best one always,
     * then up to {@code topK} in all with a probability above 0. Ties: the lower id first.
     */
    static Prediction of(float[] scores, int labelOffset, List<String> labels, int topK) {
        int classes = scores.length - labelOffset;
        int[] best = new int[Math.min(topK, classes)];
        int count = 0;
        for (int id = 0; id < classes; id++) {
            float score = scores[labelOffset + id];
            if (count > 0 && !(score > 0)) {
                continue;
            }
            int at = count < best.length ? count++ : best.length;
            while (at > 0 && score > scores[labelOffset + best[at - 1]]) {
                if (at < best.length) {
                    best[at] = best[at - 1];
                }
                at--;
            }
            if (at < best.length) {
                best[at] = id;
            }
        }
        while (count > 1 && !(scores[labelOffset + best[count - 1]] > 0)) {
            count--; // a first class of probability 0 pushed down by better ones
        }
        String[] topLabels = new String[count];
        int[] topIds = new int[count];
        float[] topProbabilities = new float[count];
        for (int i = 0; i < count; i++) {
            topIds[i] = best[i];
            topLabels[i] = labels.get(best[i]);
            topProbabilities[i] = scores[labelOffset + best[i]];
        }
        return new Prediction(topLabels, topIds, topProbabilities, null);
    }
}
