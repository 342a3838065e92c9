-- Classifies every image of the `images` table (sql/10_images.sql): prints each prediction and
-- writes it as JSON lines under ${OUTPUT_DIR}. Needs sql/10_images.sql and sql/20_functions.sql.
-- In streaming mode, JSON lines become visible when a checkpoint commits them
-- ('execution.checkpointing.interval'); the rolling options let that happen within seconds.

CREATE TEMPORARY TABLE predictions (
  path STRING,
  label STRING,
  class_id INT,
  probability FLOAT,
  top_labels ARRAY<STRING>,
  top_probabilities ARRAY<FLOAT>,
  error STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'json',
  'sink.rolling-policy.rollover-interval' = '10 s',
  'sink.rolling-policy.check-interval' = '10 s'
);

CREATE TEMPORARY TABLE printed WITH ('connector' = 'print') LIKE predictions (EXCLUDING OPTIONS);

CREATE TEMPORARY VIEW classified AS
SELECT path, p.label, p.class_id, p.probability, p.top_labels, p.top_probabilities, p.error
FROM (SELECT path, classify_resnet50(image) AS p FROM images);

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO predictions SELECT * FROM classified;
  INSERT INTO printed SELECT * FROM classified;
END;
