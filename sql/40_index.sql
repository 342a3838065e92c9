-- Stores the embedding of every image of the `images` table (sql/10_images.sql) in the index
-- `seen` (sql/35_index_table.sql), with the file's path. Needs embed_image (sql/20_functions.sql).
-- A batch job commits its segment files when it ends; images that cannot be read get a NULL
-- embedding, which the index skips with a WARN log (its option 'sink.invalid-vector').
INSERT INTO seen
SELECT path, embed_image(image) FROM images;
