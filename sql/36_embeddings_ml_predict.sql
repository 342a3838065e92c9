-- The view image_embeddings (path, embedding) of sql/36_embeddings.sql from the openvino model
-- provider instead of the pandas UDF: ML_PREDICT with the model image_embedder (sql/21_model.sql),
-- no Python worker. The same vectors (cosine >= 0.999 per image); NULL embedding, with the reason
-- in its error column, for an image that cannot be read.
CREATE TEMPORARY VIEW image_embeddings AS
SELECT path, embedding FROM ML_PREDICT(TABLE images, MODEL image_embedder, DESCRIPTOR(image));
