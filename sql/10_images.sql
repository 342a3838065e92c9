-- One row per file under ${IMAGES_DIR}: the file's bytes plus path, name, size and modification
-- time from the filesystem connector's metadata.
--
-- ${IMAGES_DIR} is substituted from the environment: our SQL runner does it, sql-client users run
--   IMAGES_DIR=/abs/path/to/images envsubst < sql/10_images.sql > /tmp/10_images.sql
-- The 'whole-file' format ships in its own jar: print its path with `python -m udfs.format_jar`
-- and pass it as `sql-client.sh -j <path>` or run `ADD JAR '<path>';` first.
--
-- Optional: 'source.monitor-interval' = '10 s' keeps discovering new files (streaming mode;
-- sql/15_watch_images.sql sets it); 'whole-file.max-file-size' (default '64 mb') and
-- 'whole-file.oversize-handling' ('null-row' default | 'skip' | 'fail') govern files too big
-- to load.

CREATE TABLE images (
  image BYTES,
  path STRING NOT NULL METADATA FROM 'file.path',
  name STRING NOT NULL METADATA FROM 'file.name',
  size BIGINT NOT NULL METADATA FROM 'file.size',
  mtime TIMESTAMP_LTZ(3) NOT NULL METADATA FROM 'file.modification-time'
) WITH (
  'connector' = 'filesystem',
  'path' = '${IMAGES_DIR}',
  'format' = 'whole-file'
);
