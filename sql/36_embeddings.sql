-- The embedding of every image of the `images` table (sql/10_images.sql) as the view
-- image_embeddings (path, embedding), which sql/40_index.sql and sql/41_near_duplicates.sql read:
-- here from the pandas UDF embed_image (sql/20_functions.sql); sql/36_embeddings_ml_predict.sql
-- gives the same view (the same vectors) from ML_PREDICT in the JVM instead. NULL for an image
-- that cannot be read.
CREATE TEMPORARY VIEW image_embeddings AS
SELECT path, embed_image(image) AS embedding FROM images;
