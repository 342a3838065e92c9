-- One row per file under ${IMAGES_DIR}: the file's bytes plus path, name, size and modification
-- time. The 'whole-file' connector (Flink's file source, many files per split) reads folders of
-- many small images several times faster than one split per file ('connector' = 'filesystem',
-- 'format' = 'whole-file', which gives the same rows; its options carry the 'whole-file.' prefix).
--
-- ${IMAGES_DIR} is substituted from the environment: our SQL runner does it, sql-client users run
--   IMAGES_DIR=/abs/path/to/images envsubst < sql/10_images.sql > /tmp/10_images.sql
-- The connector ships in the project's jar: print its path with `python -m udfs.jars`
-- and pass it as `sql-client.sh -j <path>` or run `ADD JAR '<path>';` first.
--
-- Optional: 'source.monitor-interval' = '10 s' keeps discovering new files (streaming mode;
-- sql/15_watch_images.sql sets it); 'max-file-size' (default '64 mb') and 'oversize-handling'
-- ('null-row' default | 'skip' | 'fail') govern files too big to load; 'source.split.max-files'
-- (default 1000) caps the files per split.

CREATE TABLE images (
  image BYTES,
  path STRING NOT NULL METADATA FROM 'file.path',
  name STRING NOT NULL METADATA FROM 'file.name',
  size BIGINT NOT NULL METADATA FROM 'file.size',
  mtime TIMESTAMP_LTZ(3) NOT NULL METADATA FROM 'file.modification-time'
) WITH (
  'connector' = 'whole-file',
  'path' = '${IMAGES_DIR}'
);
