-- Where the classify scripts write their rows, the same for both (sql/30_classify.sql, the pandas
-- UDF, and sql/31_ml_predict.sql, ML_PREDICT): JSON lines under ${OUTPUT_DIR} and the console.
-- The columns are fields of the classifier's result. In streaming mode, JSON lines become visible
-- when a checkpoint commits them ('execution.checkpointing.interval'); the rolling options let
-- that happen within seconds.

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
