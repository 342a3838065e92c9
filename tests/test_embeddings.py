"""Image embeddings: the head built into the converted graph, the classifier reading it from the
same inference as the classes, ``embed_image`` and ``classify_resnet50(image).embedding`` in Flink
jobs, the same vectors from ML_PREDICT (Java), and the near-duplicate benchmark on a subset.
"""

from __future__ import annotations

import shutil

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.catalog import create_images_table
from udfs.classifier import ImageClassifier
from udfs.config import load_config
from udfs.embedding_head import add_embedding_output
from udfs.model_provider import EMBEDDING_COLUMN, create_classifier_model, provider_options
from udfs.presets import Embedding

from conftest import SHARED, needs_shared
from test_model_provider import plan_error

IMAGENET_DEV = SHARED / "images" / "imagenet-dev"
PHOTOS = SHARED / "images" / "photos"


# --- the head -----------------------------------------------------------------------------------


def features_model() -> ov.Model:
    """A 2 x 4 x 3 x 3 feature map named 'features' (ReLU'd input), then a classifier head."""
    image = ops.parameter([2, 4, 3, 3], ov.Type.f32, name="image")
    features = ops.relu(image)
    features.output(0).get_tensor().set_names({"features"})
    scores = ops.softmax(ops.reduce_mean(features, [2, 3], keep_dims=False), 1)
    return ov.Model([ops.result(scores)], [image], "tiny")


@pytest.mark.parametrize("pooling", ["average", "gem"])
def test_head_pools_the_named_layer_and_normalises_it(pooling):
    spec = Embedding(output="embedding", size=4, layer="features", pooling=pooling, gem_power=3.0)
    model = add_embedding_output(features_model(), spec)
    assert [output.get_any_name() for output in model.outputs][1] == "embedding"
    x = np.random.default_rng(0).normal(size=(2, 4, 3, 3)).astype(np.float32)
    got = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)["embedding"]
    relu = np.maximum(x, 0)
    pooled = (relu.mean(axis=(2, 3)) if pooling == "average"
              else (np.maximum(relu, 1e-6) ** 3).mean(axis=(2, 3)) ** (1 / 3))
    np.testing.assert_allclose(got, pooled / np.linalg.norm(pooled, axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_head_refuses_a_missing_layer_or_another_width():
    with pytest.raises(ValueError, match=r"embedding: the model has no tensor named 'pool5'"):
        add_embedding_output(features_model(), Embedding("embedding", 4, "pool5"))
    with pytest.raises(ValueError, match=r"embedding: layer 'features' has shape \[2,4,3,3\], expected N x 2048"):
        add_embedding_output(features_model(), Embedding("embedding", 2048, "features"))


# --- the classifier -----------------------------------------------------------------------------


def test_a_preset_without_an_embedding_is_refused_naming_the_option():
    with pytest.raises(ValueError, match=r"^classify.embedding: preset 'efficientnet_lite0' gives no embedding; "
                                         r"set classify.model to a preset that does \(resnet50\)"):
        load_config({"classify.model": "efficientnet_lite0", "classify.embedding": "true"})
    config = load_config({"classify.model": "efficientnet_lite0"})
    with pytest.raises(ValueError, match=r"^classify.model: preset 'efficientnet_lite0' gives no embedding"):
        ImageClassifier(config, embedding=True)


@needs_shared
def test_a_model_file_without_the_embedding_output_is_refused_naming_the_path():
    # the resnet50 preset pointed at a one-output ResNet-50 graph (its layout set to match)
    config = load_config({"classify.model-path": str(SHARED / "models" / "light_resnet50.onnx"),
                          "classify.layout": "NCHW", "classify.channel-order": "RGB"})
    with pytest.raises(ValueError, match=r"^classify.model-path: the model '.*light_resnet50.onnx' has no output "
                                         r"'embedding' \(the embedding of preset 'resnet50'\).*udfs.models fetch resnet50"):
        ImageClassifier(config, embedding=True)


@needs_shared
def test_classify_and_embed_give_unit_vectors_from_one_model(resnet50_model):
    images = [(IMAGENET_DEV / name).read_bytes() for name in sorted(p.name for p in IMAGENET_DEV.iterdir())[:6]]
    images += [b"not an image", None]
    config = load_config({"classify.embedding": "true"})
    with ImageClassifier(config) as classifier:
        predictions = classifier.classify(images)
        embeddings = classifier.embed(images)
    for prediction, embedding in zip(predictions[:6], embeddings[:6]):
        assert prediction.embedding.shape == (2048,) and prediction.embedding.dtype == np.float32
        assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-4)
        assert float(prediction.embedding @ embedding) == pytest.approx(1.0, abs=1e-4)
    assert predictions[6].error and predictions[6].embedding is None and embeddings[6:] == [None, None]
    vectors = np.stack(embeddings[:6])
    others = vectors @ vectors.T - np.eye(6)
    assert others.max() < 0.8  # six different photos are not near-duplicates of each other
    with ImageClassifier(load_config({})) as classifier:
        assert classifier.classify(images[:1])[0].embedding is None  # not asked: not read


# --- Flink: the UDF and ML_PREDICT give the same vectors ----------------------------------------


@needs_shared
@pytest.mark.flink
def test_provider_refuses_the_embedding_column_for_a_preset_without_one():
    message = plan_error({"model": "efficientnet_lite0"}, output=f"label STRING, {EMBEDDING_COLUMN}")
    assert ("OUTPUT column 'embedding': preset 'efficientnet_lite0' gives no embedding; set 'model' "
            "(classify.model) to a preset that does (resnet50)") in message


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@needs_shared
@pytest.mark.flink
@pytest.mark.slow
def test_udf_and_ml_predict_give_the_same_embeddings(resnet50_model, tmp_path):
    """embed_image, classify_resnet50(image).embedding (pandas UDF) and ML_PREDICT's embedding
    column (Java, async and sync) on the same files in real Flink jobs: cosine >= 0.999 per image,
    a bad file NULL (with its error where the result has one)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for photo in [*sorted(IMAGENET_DEV.iterdir())[:6], PHOTOS / "grace_hopper.bmp", PHOTOS / "cat_1080p.jpg"]:
        shutil.copyfile(photo, folder / photo.name)
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    options = {"classify.embedding": "true", "parallelism.default": "1"}
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()), overrides=options)
    create_images_table(t_env, folder)
    create_classifier_model(t_env, provider_options(options), name="embedder", embedding=True)
    # nested ROW fields flattened: PyFlink's collect() cannot read a nested ROW with a NULL field
    with t_env.execute_sql("""
            SELECT name, e, c.embedding, c.label, c.error
            FROM (SELECT name, embed_image(image) AS e, classify_resnet50(image) AS c FROM images)""").collect() as rows:
        udf = {name: (e, ce, label, error) for name, e, ce, label, error in rows}
    java = {}
    for mode in ("true", "false"):  # async (batched requests) and sync (one image per request)
        with t_env.execute_sql(f"""
                SELECT name, embedding, label, error
                FROM ML_PREDICT(TABLE images, MODEL embedder, DESCRIPTOR(image), MAP['async', '{mode}'])""").collect() as rows:
            java[mode] = {name: (embedding, label, error) for name, embedding, label, error in rows}
    sync, java = java["false"], java["true"]

    assert set(udf) == set(java) == {path.name for path in folder.iterdir()}
    assert udf["broken.jpg"][:3] == (None, None, None) and udf["broken.jpg"][3]
    assert java["broken.jpg"][:2] == (None, None) and java["broken.jpg"][2]
    for name in sorted(set(udf) - {"broken.jpg"}):
        embedded, classified, label, _ = udf[name]
        predicted, java_label, error = java[name]
        assert error is None and len(embedded) == len(predicted) == 2048
        assert np.linalg.norm(embedded) == pytest.approx(1.0, abs=1e-3)
        assert cosine(embedded, classified) >= 0.9999, name  # one compiled model, the same batch
        assert cosine(embedded, predicted) >= 0.999, name  # Python and Java
        assert label == java_label, name
        assert cosine(predicted, sync[name][0]) >= 0.999, name
    assert sync["broken.jpg"][:2] == (None, None) and sync["broken.jpg"][2]


# --- the near-duplicate benchmark, on a subset --------------------------------------------------


@needs_shared
@pytest.mark.flink
@pytest.mark.slow
def test_near_duplicate_recall_on_a_subset(resnet50_model, tmp_path):
    """bench/near_duplicates.py on 16 stored photos (x 8 alterations) and 16 distractors, through
    the SQL job: recall@1 and recall above every distractor stay above a floor (the full run's
    figures are in README.md)."""
    from bench.near_duplicates import cosine_scores, embed_through_sql, evaluate, split_photos, write_benchmark

    benchmark = write_benchmark(split_photos(16, 16), tmp_path / "near")
    embeddings = embed_through_sql(benchmark.folder, {"parallelism.default": "1"})
    result = evaluate(benchmark, embeddings, cosine_scores)
    overall = result["recall"]["all"]
    print(f"near-duplicates, 16 stored x 8 alterations, 16 distractors: recall@1 {overall['at_1']:.3f}, "
          f"above every distractor {overall['at_threshold']:.3f} (cosine > {result['threshold']:.3f})")
    assert overall["count"] == 16 * 8
    assert overall["at_1"] >= 0.95, result
    assert overall["at_threshold"] >= 0.85, result
