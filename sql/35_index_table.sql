-- The image index: a table of the 'image-index' connector (in the openvino provider's jar) at
-- ${INDEX_DIR}. INSERT INTO seen stores rows with their embeddings (exactly once: segment files
-- committed with checkpoints, or at the end of a batch job); VECTOR_SEARCH(TABLE seen, ...) finds
-- the stored rows nearest a query embedding, by cosine, exactly (OpenVINO scans every stored
-- vector; see README "Similarity search"). Any other columns may be stored beside the embedding.
--
-- Searches pick up segments committed after they started every 'search.refresh-interval'.
-- Options: 'search.precision' ('int8' default | 'bf16' | 'f32'), 'sink.invalid-vector' ('skip'
-- default | 'fail'), ... (README). SQL-client users: envsubst, or -j <jar> and drop ADD JAR.
ADD JAR '${OPENVINO_JAR}';

CREATE TABLE seen (
  path STRING,
  embedding ARRAY<FLOAT>
) WITH (
  'connector' = 'image-index',
  'path' = '${INDEX_DIR}',
  'dimension' = '2048',
  'search.refresh-interval' = '1 s'
);
