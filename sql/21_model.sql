-- The classifier as a catalog model, served inside the TaskManagers' JVMs by the 'openvino' model
-- provider (CREATE MODEL + ML_PREDICT): no Python worker, no model server.
--
-- The provider ships in its own jar (OpenVINO's CPU libraries inside): `python -m udfs.jars
-- openvino` prints its path; our SQL runner predefines ${OPENVINO_JAR}, ${MODEL_PRESET}
-- (resnet50) and ${MODEL_PATH} (empty: the preset's file in ~/.cache/flink-image-udfs/models).
-- SQL-client users export the three and run `envsubst`, or pass the jar with `-j` and drop ADD JAR.
--
-- WITH takes the classify.* options of the pandas UDF without the prefix ('preset' for
-- classify.model): 'top-k', 'device', 'precision', 'batch-size', 'max-pixels', ... OUTPUT may
-- list any of the columns below, in any order.
ADD JAR '${OPENVINO_JAR}';

CREATE TEMPORARY MODEL image_classifier
INPUT (image BYTES)
OUTPUT (
  label STRING,
  class_id INT,
  probability FLOAT,
  top_labels ARRAY<STRING>,
  top_class_ids ARRAY<INT>,
  top_probabilities ARRAY<FLOAT>,
  error STRING
) WITH (
  'provider' = 'openvino',
  'preset' = '${MODEL_PRESET}',
  'model-path' = '${MODEL_PATH}'
);
