"""Tests for aecm.metrics on small cases checked by hand."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from aecm.metrics import (
    adjusted_rand,
    clustering_accuracy,
    evaluate,
    match_labels,
    normalized_mutual_info,
)


def test_perfect_clustering_with_permuted_labels():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [2, 2, 0, 0, 1, 1]
    assert clustering_accuracy(y_true, y_pred) == 1.0
    assert normalized_mutual_info(y_true, y_pred) == pytest.approx(1.0)
    assert adjusted_rand(y_true, y_pred) == pytest.approx(1.0)
    assert match_labels(y_true, y_pred) == {2: 0, 0: 1, 1: 2}


def test_hand_computed_accuracy():
    # Contingency (rows: classes 0, 1; columns: clusters 0, 1) = [[1, 2], [3, 0]].
    # Matching cluster 1 -> class 0 and cluster 0 -> class 1 gets 2 + 3 = 5 of 6 right; the
    # other matching gets 1 + 0 = 1.
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [1, 1, 0, 0, 0, 0]
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    assert match_labels(y_true, y_pred) == {1: 0, 0: 1}


def test_more_clusters_than_classes():
    # Only two of the four singleton clusters can be matched: 2 of 4 samples count.
    y_true = [0, 0, 1, 1]
    y_pred = [0, 1, 2, 3]
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(0.5)
    mapping = match_labels(y_true, y_pred)
    assert len(mapping) == 2
    assert sorted(mapping.values()) == [0, 1]


def test_fewer_clusters_than_classes():
    # One cluster for classes 0 and 1 (matched with one of them: 2 right), one for class 2
    # (2 right): 4 of 6.
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [5, 5, 5, 5, 7, 7]
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    mapping = match_labels(y_true, y_pred)
    assert set(mapping) == {5, 7}
    assert mapping[7] == 2
    assert mapping[5] in (0, 1)


def test_single_cluster():
    assert clustering_accuracy([0, 1, 1, 1], [3, 3, 3, 3]) == pytest.approx(0.75)


def test_string_labels_on_both_sides():
    y_true = ["cat", "cat", "dog", "dog", "dog"]
    y_pred = ["b", "b", "a", "a", "b"]
    # Matching b -> cat, a -> dog: 2 + 2 = 4 of 5.
    assert clustering_accuracy(y_true, y_pred) == pytest.approx(4 / 5)
    assert match_labels(y_true, y_pred) == {"b": "cat", "a": "dog"}
    scores = evaluate(y_true, y_pred)
    assert scores["acc"] == pytest.approx(4 / 5)


def test_mixed_label_types():
    # Integer classes and string clusters.
    assert clustering_accuracy(np.array([1, 1, 2]), np.array(["x", "x", "y"])) == 1.0


def test_nmi_and_ari_equal_sklearn():
    rng = np.random.RandomState(0)
    y_true = rng.randint(0, 4, size=200)
    y_pred = np.where(rng.uniform(size=200) < 0.7, y_true, rng.randint(0, 5, size=200))
    assert normalized_mutual_info(y_true, y_pred) == pytest.approx(
        normalized_mutual_info_score(y_true, y_pred), abs=1e-12
    )
    assert adjusted_rand(y_true, y_pred) == pytest.approx(
        adjusted_rand_score(y_true, y_pred), abs=1e-12
    )


def test_accuracy_in_unit_interval_and_at_least_majority_share():
    rng = np.random.RandomState(1)
    y_true = rng.randint(0, 3, size=100)
    y_pred = rng.randint(0, 6, size=100)
    acc = clustering_accuracy(y_true, y_pred)
    assert 0.0 <= acc <= 1.0
    # The best matching is at least as good as matching the largest contingency cell alone.
    table = np.zeros((3, 6), dtype=int)
    np.add.at(table, (y_true, y_pred), 1)
    assert acc * 100 >= table.max()


def test_evaluate_keys_and_types():
    scores = evaluate([0, 0, 1, 1], [1, 1, 0, 0])
    assert set(scores) == {"acc", "nmi", "ari"}
    assert all(isinstance(value, float) for value in scores.values())
    assert scores == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})


@pytest.mark.parametrize(
    "func", [clustering_accuracy, normalized_mutual_info, adjusted_rand, evaluate, match_labels]
)
def test_different_lengths(func):
    with pytest.raises(ValueError, match="different lengths: 5 and 4"):
        func([0, 0, 1, 1, 1], [0, 0, 1, 1])


@pytest.mark.parametrize(
    "func", [clustering_accuracy, normalized_mutual_info, adjusted_rand, evaluate, match_labels]
)
def test_empty_input(func):
    with pytest.raises(ValueError, match="empty"):
        func([], [])


@pytest.mark.parametrize(
    "func", [clustering_accuracy, normalized_mutual_info, adjusted_rand, evaluate, match_labels]
)
def test_two_dimensional_input(func):
    with pytest.raises(ValueError, match=r"y_true must be a 1-D array.*\(2, 2\)"):
        func([[0, 1], [1, 0]], [0, 1])
    with pytest.raises(ValueError, match=r"y_pred must be a 1-D array.*\(2, 1\)"):
        func([0, 1], [[0], [1]])
