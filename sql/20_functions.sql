-- Registers the classifier for SQL. The UDF reads its settings (classify.*) from the job
-- parameters: `python -m udfs.sql` maps SET 'classify.<key>' = '...' into them; with the SQL
-- client set them as one map, e.g.
--   SET 'pipeline.global-job-parameters' = 'classify.model:efficientnet_lite0,classify.top-k:3';
-- `python -m udfs.config` lists every option with its default.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS classify_resnet50
  AS 'udfs.functions.classify_resnet50' LANGUAGE PYTHON;
-- classify_file(path): the same classification for the local file a path names (the images
-- table's path column), read by the Python worker instead of loaded by the table: no image bytes
-- travel from the JVM to Python (faster, less memory). Local files only.
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS classify_file
  AS 'udfs.functions.classify_file' LANGUAGE PYTHON;
-- embed_image(image) -> ARRAY<FLOAT>: the model's image embedding (2048 L2-normalised floats for
-- resnet50; a dot product of two is their cosine similarity), NULL for an image that cannot be
-- read. Same options. For classes, embedding and error from one inference instead:
--   SET 'classify.embedding' = 'true';  then  classify_resnet50(image).embedding
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS embed_image
  AS 'udfs.functions.embed_image' LANGUAGE PYTHON;
