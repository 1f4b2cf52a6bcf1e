"""Retrieval metrics: worked examples, and Hamming search against brute-force NumPy."""

import numpy as np
import pytest

from aekeras import retrieval


def test_precision_at_k_worked_example():
    query_labels = np.array([0, 1, 2])
    retrieved = np.array(
        [
            [0, 0, 1, 0],  # 2 of the first 3 are relevant; 3 of 4
            [2, 1, 1, 1],  # 2/3; 3/4
            [0, 1, 0, 1],  # 0/3; 0/4
        ]
    )
    np.testing.assert_allclose(
        retrieval.precision_at_k(query_labels, retrieved, k=3), [2 / 3, 2 / 3, 0]
    )
    np.testing.assert_allclose(retrieval.precision_at_k(query_labels, retrieved), [0.75, 0.75, 0])


def test_precision_at_k_by_class():
    query_labels = np.array([1, 0, 1, 1])
    retrieved = np.array([[1, 1], [0, 1], [0, 0], [1, 0]])  # per query: 1, .5, 0, .5
    classes, precision = retrieval.precision_at_k_by_class(query_labels, retrieved)
    np.testing.assert_array_equal(classes, [0, 1])
    np.testing.assert_allclose(precision, [0.5, 0.5])


def test_precision_recall_curve_worked_example():
    # Database: three items of class 0, two of class 1.
    database_labels = np.array([0, 0, 0, 1, 1])
    query_labels = np.array([0, 1])
    retrieved = np.array([[0, 1, 0, 0, 1], [0, 1, 1, 0, 0]])
    curve = retrieval.precision_recall_curve(query_labels, retrieved, database_labels)
    # Query 0: hits 1,1,2,3,3 of 3 relevant; query 1: hits 0,1,2,2,2 of 2 relevant.
    precision_0 = np.array([1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])
    precision_1 = np.array([0, 1 / 2, 2 / 3, 2 / 4, 2 / 5])
    recall_0 = np.array([1, 1, 2, 3, 3]) / 3
    recall_1 = np.array([0, 1, 2, 2, 2]) / 2
    np.testing.assert_allclose(curve.precision, (precision_0 + precision_1) / 2)
    np.testing.assert_allclose(curve.recall, (recall_0 + recall_1) / 2)
    np.testing.assert_array_equal(curve.ranks, np.arange(1, 6))
    assert curve.recall[-1] == pytest.approx(1.0)  # the whole database retrieved

    at = retrieval.precision_recall_curve(
        query_labels, retrieved, n_relevant=np.array([3, 2]), ranks=[1, 3]
    )
    np.testing.assert_allclose(at.precision, curve.precision[[0, 2]])
    np.testing.assert_allclose(at.recall, curve.recall[[0, 2]])


def test_precision_recall_curve_validates():
    with pytest.raises(ValueError, match="exactly one"):
        retrieval.precision_recall_curve([0], [[0]])
    with pytest.raises(ValueError, match="one row per query"):
        retrieval.precision_recall_curve([0, 1], [[0, 1]], database_labels=[0, 1])
    with pytest.raises(ValueError, match="ranks"):
        retrieval.precision_recall_curve([0], [[0, 1]], database_labels=[0, 1], ranks=[3])


def test_cosine_topk_worked_example():
    database = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.0]])
    queries = np.array([[3.0, 0.1], [-1.0, -0.5]])
    index, similarity = retrieval.cosine_similarity_topk(queries, database, k=2)
    np.testing.assert_array_equal(index, [[0, 2], [3, 1]])
    expected = database / np.linalg.norm(database, axis=1, keepdims=True)
    expected = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ expected.T
    np.testing.assert_allclose(similarity, np.take_along_axis(expected, index, 1), atol=1e-12)


def test_nearest_neighbors_leave_one_out():
    points = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.0, 5.2]])
    index, _ = retrieval.nearest_neighbors(
        points, points, k=1, metric="euclidean", exclude_self=True
    )
    np.testing.assert_array_equal(index[:, 0], [1, 0, 3, 2])
    with pytest.raises(ValueError, match="between 1 and"):
        retrieval.nearest_neighbors(points, points, k=4, exclude_self=True)
    with pytest.raises(ValueError, match="same number of features"):
        retrieval.nearest_neighbors(points, points[:, :1], k=1)


def test_binary_codes_and_packing():
    codes = retrieval.binary_codes(np.array([[0.9, 0.1, 0.5, 0.51]]))
    np.testing.assert_array_equal(codes, [[1, 0, 0, 1]])
    packed = retrieval.pack_codes(np.ones((2, 70), dtype=np.uint8))
    assert packed.dtype == np.uint64 and packed.shape == (2, 2)
    with pytest.raises(ValueError, match="only 0 and 1"):
        retrieval.pack_codes(np.array([[0, 2]]))


@pytest.mark.parametrize("bits", [3, 30, 64, 100, 300])
def test_hamming_search_matches_brute_force(bits):
    rng = np.random.default_rng(bits)
    queries = rng.integers(0, 2, size=(37, bits), dtype=np.uint8)
    database = rng.integers(0, 2, size=(300, bits), dtype=np.uint8)
    brute = (queries[:, None, :] != database[None, :, :]).sum(axis=-1)
    np.testing.assert_array_equal(retrieval.hamming_distances(queries, database), brute)

    index, distance = retrieval.hamming_search(queries, database, k=10, chunk_size=16)
    order = np.argsort(brute, axis=1, kind="stable")[:, :10]  # ties: lower index first
    np.testing.assert_array_equal(index, order)
    np.testing.assert_array_equal(distance, np.take_along_axis(brute, order, axis=1))

    everything, _ = retrieval.hamming_search(queries, database, k=300)
    np.testing.assert_array_equal(everything, np.argsort(brute, axis=1, kind="stable"))


def test_hamming_search_validates():
    with pytest.raises(ValueError, match="same number of bits"):
        retrieval.hamming_search(np.zeros((1, 8)), np.zeros((4, 9)), k=1)
    with pytest.raises(ValueError, match="2-D"):
        retrieval.hamming_search(np.zeros(8), np.zeros((4, 8)), k=1)
    with pytest.raises(ValueError, match="between 1 and"):
        retrieval.hamming_search(np.zeros((1, 8)), np.zeros((4, 8)), k=5)


def test_retrieved_labels():
    labels = np.array([5, 6, 7])
    np.testing.assert_array_equal(retrieval.retrieved_labels([[2, 0]], labels), [[7, 5]])
    with pytest.raises(ValueError, match="must lie in"):
        retrieval.retrieved_labels([[3]], labels)


def test_popcount_fallback_without_numpy_bitwise_count(monkeypatch):
    rng = np.random.default_rng(1)
    queries = rng.integers(0, 2, size=(5, 130), dtype=np.uint8)
    database = rng.integers(0, 2, size=(40, 130), dtype=np.uint8)
    fast = retrieval.hamming_distances(queries, database)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(retrieval.hamming_distances(queries, database), fast)
    np.testing.assert_array_equal(fast, (queries[:, None] != database[None]).sum(axis=-1))
