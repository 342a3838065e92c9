-- The classifier set up with the knobs of the Analytics Zoo OpenVINO tutorial, spelled out rather
-- than taken from the resnet50 preset: the same recipe, so the same classes (tests/test_resnet50.py
-- checks it on 500 photos). Run it between the functions and the query:
--   python -m udfs.sql -i sql/10_images.sql -i sql/20_functions.sql -i sql/25_tutorial_knobs.sql \
--       -i sql/29_sinks.sql -f sql/30_classify.sql
-- `python -m udfs.config` lists every classify.* option.

SET 'classify.model' = 'resnet50';                   -- model type; a file of your own: classify.model-path
SET 'classify.layout' = 'NHWC';                      -- input shape [N, 224, 224, 3]
SET 'classify.channel-order' = 'RGB';                -- the order the mean values below are written in
SET 'classify.mean-values' = '123.68,116.78,103.94';
SET 'classify.scale-values' = '';                    -- no scaling
SET 'classify.reverse-input-channels' = 'true';      -- the model takes BGR: channels (and mean) reversed
SET 'classify.resize-policy' = 'resize-shorter-side-then-crop';
SET 'classify.resize-size' = '256';
SET 'classify.crop-size' = '224';                    -- centre crop 224 (policy 'center-crop' crops the
                                                     -- full-size image instead, as the tutorial did)
SET 'classify.infer-requests' = '2';                 -- concurrent requests per model
SET 'classify.batch-size' = '8';                     -- images per request
SET 'parallelism.default' = '2';                     -- parallelism
