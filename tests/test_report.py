"""aecm.report: the run folder, the figures and the self-contained HTML page."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from aecm.cli import main
from aecm.report import SECTION_IDS, figures, read_run, render_report
from aecm.report.projection import project
from aecm.report.run import confusion_table


@pytest.fixture(scope="module")
def blobs_run(tmp_path_factory):
    """A k-means run on three blobs with a label column and an HTML-hostile column name."""
    folder = tmp_path_factory.mktemp("blobs")
    rng = np.random.default_rng(0)
    lines = ["<b>width</b>,height,kind"]
    for k, centre in enumerate(((0, 0), (6, 0), (0, 6))):
        for x, y in rng.normal(centre, 0.6, size=(40, 2)):
            lines.append(f"{x:.3f},{y:.3f},{'abc'[k]}")
    (folder / "blobs.csv").write_text("\n".join(lines) + "\n")
    out = folder / "run"
    code = main(["fit", str(folder / "blobs.csv"), "--method", "kmeans", "-k", "3",
                 "--label-column", "kind", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    return out


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_page_is_self_contained_with_every_section(blobs_run):
    html = (blobs_run / "report.html").read_text()
    ids = re.findall(r'<section id="([^"]+)">', html)
    assert tuple(ids) == SECTION_IDS
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "<link" not in html
    images = _images(html)
    assert len(images) == html.count("<img") == 4  # sizes, map, heat map, confusion
    on_disk = {p.read_bytes() for p in (blobs_run / "figures").glob("*.png")}
    assert set(images) == on_disk
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images)


def test_summary_and_sections_say_what_they_show(blobs_run):
    html = (blobs_run / "report.html").read_text()
    assert "120 rows × 2 features" in html
    assert "kmeans (PersistentKMeans)" in html and "3 asked, 0 empty" in html
    assert "&lt;b&gt;width&lt;/b&gt;" in html and "<b>width</b>" not in html  # escaped
    assert "inertia" in html  # final loss
    assert "kmeans records no per-epoch training history" in html
    assert 'id="figure-heatmap"' in html  # 2 features: no images
    assert "ACC (accuracy after Hungarian matching)" in html and "1.0000" in html


def test_rendering_again_reads_only_the_run_folder(blobs_run, tmp_path):
    run = read_run(blobs_run)
    assert run.n_clusters == 3 and len(run.clusters) == 120 and run.confidence is None
    assert run.metrics["acc"] == 1.0
    # empty a cluster in labels.csv: the report counts it
    labels = (blobs_run / "labels.csv").read_text().replace(",2,", ",1,")
    copy = tmp_path / "run"
    copy.mkdir()
    for path in blobs_run.rglob("*"):
        target = copy / path.relative_to(blobs_run)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(path.read_bytes())
    (copy / "labels.csv").write_text(labels)
    render_report(copy)
    assert "3 asked, 1 empty" in (copy / "report.html").read_text()


def test_run_folder_errors(blobs_run, tmp_path):
    with pytest.raises(ValueError, match="no such run folder"):
        read_run(tmp_path / "nothing")
    with pytest.raises(ValueError, match="is not an aecm run folder"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"format": "aecm-run", "format_version": 99}))
    with pytest.raises(ValueError, match="has version 99"):
        read_run(tmp_path)
    with pytest.raises(ValueError, match="image shape 3x3 has 9 pixels but the data has 2"):
        render_report(blobs_run, image_shape=(3, 3))


def test_umap_map_needs_umap_learn(blobs_run):
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="needs the optional package umap-learn"):
            render_report(blobs_run, projection="umap")
    else:
        pytest.skip("umap-learn is installed: the message for its absence cannot be shown")


def test_confusion_table_orders_clusters_by_their_matched_class():
    y = np.array(["a", "a", "b", "b", "c", "c", "c"])
    clusters = np.array([2, 2, 0, 0, 1, 1, 3])
    table = confusion_table(y, clusters)
    assert table["classes"] == ["a", "b", "c"]
    assert table["clusters"] == [2, 0, 1, 3]  # matched with a, b, c; unmatched last
    assert table["counts"] == [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 1]]
    assert table["mapping"] == {"2": "a", "0": "b", "1": "c"}


def test_projection_of_low_dimensional_data():
    points, centroids, labels = project(np.arange(6.0).reshape(3, 2), np.zeros((2, 2)))
    np.testing.assert_array_equal(points, np.arange(6.0).reshape(3, 2))
    points, _, _ = project(np.arange(3.0).reshape(3, 1), np.zeros((2, 1)))
    np.testing.assert_array_equal(points, [[0, 0], [1, 0], [2, 0]])
    rng = np.random.default_rng(0)
    points, centroids, labels = project(rng.normal(size=(50, 5)), rng.normal(size=(3, 5)))
    assert points.shape == (50, 2) and centroids.shape == (3, 2) and labels[0].startswith("PC 1")


def test_figures_draw_edge_cases():
    sizes = figures.to_png(figures.cluster_sizes(np.array([5, 0, 3])))
    assert sizes.startswith(b"\x89PNG")
    colour = np.random.default_rng(0).random((4, 2 * 3 * 3))
    grid = figures.image_grid(colour, (2, 3, 3), ["a", "b", "c", "d"], n_columns=3)
    assert figures.to_png(grid).startswith(b"\x89PNG")
    many = figures.centroid_heatmap(np.random.default_rng(0).random((3, 60)), list("x" * 60))
    assert figures.to_png(many).startswith(b"\x89PNG")
    assert figures.training_curves({}) is None
    phases = figures.training_curves({"pretrain": {"loss": [3, 2]}, "joint": {"loss": [1]}})
    assert len(phases.axes) == 2
    assert len(figures.cluster_colors(25)) == 25
