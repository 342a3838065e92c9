-- Classifies every image of the `images` table (sql/10_images.sql) with classify_resnet50
-- (sql/20_functions.sql): prints each prediction and writes it as JSON lines under ${OUTPUT_DIR}
-- (the sinks of sql/29_sinks.sql, run before this one).

CREATE TEMPORARY VIEW classified AS
SELECT path, p.label, p.class_id, p.probability, p.top_labels, p.top_probabilities, p.error
FROM (SELECT path, classify_resnet50(image) AS p FROM images);

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO predictions SELECT * FROM classified;
  INSERT INTO printed SELECT * FROM classified;
END;
