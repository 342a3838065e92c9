-- Classifies every image of the `images` table (sql/10_images.sql) with the `image_classifier` model
-- (sql/21_model.sql) through ML_PREDICT: the same rows as sql/30_classify.sql, printed and
-- written as JSON lines under ${OUTPUT_DIR} (the sinks of sql/29_sinks.sql, run before this one),
-- computed in the JVM.
--
-- ML_PREDICT runs the model asynchronously by default: each subtask keeps up to
-- 'max-concurrent-operations' images in flight and the provider batches them into OpenVINO
-- requests (half of that, at most 8, per request). MAP['async', 'false'] runs one image at a time.

CREATE TEMPORARY VIEW classified AS
SELECT path, label, class_id, probability, top_labels, top_probabilities, error
FROM ML_PREDICT(TABLE images, MODEL image_classifier, DESCRIPTOR(image), MAP['max-concurrent-operations', '16']);

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO predictions SELECT * FROM classified;
  INSERT INTO printed SELECT * FROM classified;
END;
