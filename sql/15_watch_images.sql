-- Streaming only (run with --mode streaming): the images table keeps discovering files that land
-- under ${IMAGES_DIR}, checking every ${MONITOR_INTERVAL} (e.g. '1 s'); each file is read once.
-- Run after sql/10_images.sql. Write a file elsewhere and move it in, or write it under a name
-- starting with '.' or '_' and rename it: the source skips such names, and would otherwise read a
-- file that is still being written.
ALTER TABLE images SET ('source.monitor-interval' = '${MONITOR_INTERVAL}');
