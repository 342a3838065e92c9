-- Stores the embedding of every image of the `images` table (sql/10_images.sql) in the index
-- `seen` (sql/35_index_table.sql), with the file's path. The embeddings come from the view
-- image_embeddings: sql/36_embeddings.sql (embed_image, the pandas UDF; needs sql/20_functions.sql)
-- or sql/36_embeddings_ml_predict.sql (ML_PREDICT; needs sql/21_model.sql).
-- A batch job commits its segment files when it ends; images that cannot be read get a NULL
-- embedding, which the index skips with a WARN log (its option 'sink.invalid-vector').
INSERT INTO seen
SELECT path, embedding FROM image_embeddings;
