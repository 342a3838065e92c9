-- Streaming near-duplicate detection: each image that lands under ${IMAGES_DIR} (sql/10_images.sql
-- + sql/15_watch_images.sql, --mode streaming) is embedded once, compared with every image stored
-- in the index `seen` (sql/35_index_table.sql) -> its nearest stored image and their cosine,
-- flagged as a near-duplicate at 0.8 or above, printed and written as JSON lines under
-- ${OUTPUT_DIR}; then stored, so later arrivals are compared with it too (once a checkpoint has
-- committed it and the search has refreshed: seconds).
--
-- 0.8: on the near-duplicate benchmark (bench/near_duplicates.py: 250 photos, 8 kinds of
-- alteration, 150 distractor photos) no photo that was never stored scored above 0.762.
--
-- VECTOR_SEARCH as Flink 2.3 can plan it: LEFT JOIN LATERAL ... ON TRUE (the first image, with
-- nothing stored yet, still gets a row, with NULL nearest and score), no alias on the call, and the
-- query side's columns renamed where the stored table has the same names (path, embedding).

CREATE TEMPORARY VIEW arrivals AS
SELECT path AS arrival, embed_image(image) AS query FROM images;

CREATE TEMPORARY VIEW matches AS
SELECT arrival, path AS nearest, score, COALESCE(score >= 0.8, FALSE) AS near_duplicate
FROM arrivals LEFT JOIN LATERAL TABLE(VECTOR_SEARCH(TABLE seen, DESCRIPTOR(embedding), query, 1)) ON TRUE;

CREATE TEMPORARY TABLE duplicates (
  arrival STRING,
  nearest STRING,
  score DOUBLE,
  near_duplicate BOOLEAN
) WITH (
  'connector' = 'filesystem',
  'path' = '${OUTPUT_DIR}',
  'format' = 'json',
  'sink.rolling-policy.rollover-interval' = '2 s',
  'sink.rolling-policy.check-interval' = '1 s'
);

CREATE TEMPORARY TABLE duplicates_printed WITH ('connector' = 'print') LIKE duplicates (EXCLUDING OPTIONS);

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO duplicates SELECT * FROM matches;
  INSERT INTO duplicates_printed SELECT * FROM matches;
  INSERT INTO seen SELECT arrival, query FROM arrivals;
END;
