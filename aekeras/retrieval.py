"""Retrieval metrics for lectures 03 (text) and 04 (images), in NumPy and scikit-learn.

A *query* retrieves database items ranked by similarity; an item is *relevant* when it
has the query's label. From the ranked labels we read

- precision@k: the fraction of the first k retrieved items that are relevant; averaged over
  the queries and plotted against k (log scale), it is Hinton & Salakhutdinov (2006, fig. 4:
  "fraction of retrieved documents in the same class as the query" against the number of
  documents retrieved);
- the precision-recall curve: precision and recall after each rank, averaged over the
  queries (Salakhutdinov & Hinton 2009, "Semantic hashing", fig. 6);
- Hamming-ball search on binary codes (semantic hashing), with packed bits and popcount.

Example:

```python
index, _ = cosine_similarity_topk(codes_test, codes_train, k=10)
retrieved = y_train[index]
precision_at_k(y_test, retrieved).mean()
```
"""

from typing import NamedTuple

import numpy as np
from sklearn.neighbors import NearestNeighbors

__all__ = [
    "PrecisionRecall",
    "binary_codes",
    "cosine_similarity_topk",
    "hamming_distances",
    "hamming_search",
    "nearest_neighbors",
    "pack_codes",
    "precision_at_k",
    "precision_at_k_by_class",
    "precision_recall_curve",
    "relevance",
    "retrieved_labels",
]


def _as_2d(name, array):
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D array (items, features). Received: {name}.shape={array.shape}"
        )
    return array


def _as_1d(name, array):
    array = np.asarray(array)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array. Received: {name}.shape={array.shape}")
    return array


def _check_k(k, n_database):
    if not isinstance(k, (int, np.integer)) or k < 1 or k > n_database:
        raise ValueError(
            f"`k` must be an integer between 1 and the database size ({n_database}). "
            f"Received: k={k!r}"
        )


def _check_same_width(queries, database, what="features"):
    if queries.shape[1] != database.shape[1]:
        raise ValueError(
            f"Queries and database must have the same number of {what}. Received: "
            f"queries.shape={queries.shape}, database.shape={database.shape}"
        )


def nearest_neighbors(queries, database, k, metric="cosine", exclude_self=False):
    """The k nearest database items of each query, by brute force (scikit-learn).

    Args:
        queries: array (n_queries, d).
        database: array (n_database, d).
        k: how many neighbours to return per query.
        metric: any metric of `sklearn.neighbors.NearestNeighbors` ("cosine", "euclidean").
        exclude_self: the queries *are* the database (leave-one-out): drop each query's
            own index from its list.

    Returns:
        `(indices, distances)`, both (n_queries, k), nearest first.
    """
    queries, database = _as_2d("queries", queries), _as_2d("database", database)
    _check_same_width(queries, database)
    if exclude_self and queries.shape[0] != database.shape[0]:
        raise ValueError(
            "`exclude_self=True` needs the queries to be the database itself. Received: "
            f"queries.shape={queries.shape}, database.shape={database.shape}"
        )
    if exclude_self and not 1 <= k < database.shape[0]:
        raise ValueError(
            "With `exclude_self=True`, `k` must be between 1 and the database size minus 1 "
            f"({database.shape[0] - 1}). Received: k={k!r}"
        )
    _check_k(k, database.shape[0])
    search = NearestNeighbors(n_neighbors=k + int(exclude_self), metric=metric, algorithm="brute")
    distances, indices = search.fit(database).kneighbors(queries)
    if exclude_self:
        # Drop each query's own index; if a duplicate pushed it out, drop the (k+1)-th.
        own = indices == np.arange(len(queries))[:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
        keep = np.ones(indices.shape, dtype=bool)
        keep[np.arange(len(queries)), drop] = False
        indices = indices[keep].reshape(len(queries), k)
        distances = distances[keep].reshape(len(queries), k)
    return indices, distances


def cosine_similarity_topk(queries, database, k, exclude_self=False):
    """The k database items of highest cosine similarity to each query.

    Args:
        queries: array (n_queries, d).
        database: array (n_database, d).
        k: how many items to return per query.
        exclude_self: the queries are the database; leave each query out of its own list.

    Returns:
        `(indices, similarities)`, both (n_queries, k), most similar first;
        cosine similarity = 1 - cosine distance.
    """
    indices, distances = nearest_neighbors(queries, database, k, "cosine", exclude_self)
    return indices, 1.0 - distances


def retrieved_labels(indices, database_labels):
    """Labels of the retrieved items: `database_labels[indices]` with its shapes checked."""
    indices = _as_2d("indices", indices)
    database_labels = _as_1d("database_labels", database_labels)
    if indices.size and (indices.min() < 0 or indices.max() >= len(database_labels)):
        raise ValueError(
            f"`indices` must lie in [0, {len(database_labels)}). Received: "
            f"min={indices.min()}, max={indices.max()}"
        )
    return database_labels[indices]


def relevance(query_labels, retrieved):
    """Boolean matrix (n_queries, n_retrieved): is the retrieved item of the query's label?"""
    query_labels = _as_1d("query_labels", query_labels)
    retrieved = _as_2d("retrieved_labels", retrieved)
    if retrieved.shape[0] != query_labels.shape[0]:
        raise ValueError(
            "`retrieved_labels` needs one row per query. Received: "
            f"query_labels.shape={query_labels.shape}, retrieved_labels.shape={retrieved.shape}"
        )
    return retrieved == query_labels[:, None]


def precision_at_k(query_labels, retrieved_labels, k=None):
    """Precision@k of each query: the fraction of its first k retrieved items that share its label.

    Args:
        query_labels: (n_queries,) labels.
        retrieved_labels: (n_queries, n_retrieved) labels of the ranked results.
        k: rank cut-off; default all `n_retrieved` columns.

    Returns:
        float array (n_queries,).
    """
    relevant = relevance(query_labels, retrieved_labels)
    k = relevant.shape[1] if k is None else k
    _check_k(k, relevant.shape[1])
    return relevant[:, :k].mean(axis=1)


def precision_at_k_by_class(query_labels, retrieved_labels, k=None):
    """Mean precision@k of the queries of each class.

    Returns:
        `(classes, precision)`: the sorted distinct query labels and, for each, the mean
        precision@k over its queries.
    """
    per_query = precision_at_k(query_labels, retrieved_labels, k)
    classes, inverse = np.unique(np.asarray(query_labels), return_inverse=True)
    sums = np.bincount(inverse, weights=per_query, minlength=len(classes))
    return classes, sums / np.bincount(inverse, minlength=len(classes))


class PrecisionRecall(NamedTuple):
    """Averaged retrieval precision and recall after each rank in `ranks` (1-based)."""

    precision: np.ndarray
    recall: np.ndarray
    ranks: np.ndarray


def precision_recall_curve(
    query_labels, retrieved_labels, database_labels=None, n_relevant=None, ranks=None
):
    """Precision and recall after each rank, averaged over the queries.

    After the first r retrieved items a query has precision (relevant in top r) / r and recall
    (relevant in top r) / (relevant in the database); both are averaged over queries at each
    r. `precision` against `ranks` is Hinton & Salakhutdinov's (2006) fig. 4, the fraction
    of retrieved documents in the query's class against the number retrieved; `precision`
    against `recall` is the precision-recall curve. Queries whose class is absent from the
    database are left out of the recall average.

    Args:
        query_labels: (n_queries,) labels.
        retrieved_labels: (n_queries, n_retrieved) labels of the ranked results (the whole
            database ranked gives recall up to 1).
        database_labels: (n_database,) labels, to count each query's relevant items.
        n_relevant: (n_queries,) the counts themselves (e.g. minus 1 for a leave-one-out
            query); give this or `database_labels`.
        ranks: 1-based ranks to report (default every rank 1..n_retrieved).

    Returns:
        `PrecisionRecall(precision, recall, ranks)`, each of length `len(ranks)`.
    """
    relevant = relevance(query_labels, retrieved_labels)
    query_labels = np.asarray(query_labels)
    if (database_labels is None) == (n_relevant is None):
        raise ValueError("Pass exactly one of `database_labels` and `n_relevant`.")
    if n_relevant is None:
        database_labels = _as_1d("database_labels", database_labels)
        classes, counts = np.unique(database_labels, return_counts=True)
        position = np.clip(np.searchsorted(classes, query_labels), 0, len(classes) - 1)
        n_relevant = np.where(classes[position] == query_labels, counts[position], 0)
    n_relevant = _as_1d("n_relevant", n_relevant).astype(np.float64)
    if n_relevant.shape[0] != relevant.shape[0]:
        raise ValueError(
            f"`n_relevant` needs one count per query ({relevant.shape[0]}). "
            f"Received: n_relevant.shape={n_relevant.shape}"
        )
    n_retrieved = relevant.shape[1]
    ranks = np.arange(1, n_retrieved + 1) if ranks is None else np.asarray(ranks, dtype=int)
    if ranks.ndim != 1 or ranks.size == 0 or ranks.min() < 1 or ranks.max() > n_retrieved:
        raise ValueError(
            f"`ranks` must be 1-based ranks in [1, {n_retrieved}]. Received: ranks={ranks}"
        )
    hits = np.cumsum(relevant, axis=1, dtype=np.float64)[:, ranks - 1]
    precision = (hits / ranks).mean(axis=0)
    has_relevant = n_relevant > 0
    recall = (hits[has_relevant] / n_relevant[has_relevant, None]).mean(axis=0)
    return PrecisionRecall(precision, recall, ranks)


def binary_codes(activations, threshold=0.5):
    """Binary codes for semantic hashing: 1 where the activation exceeds `threshold`.

    Args:
        activations: (n, bits) code-layer activations (e.g. logistic units in (0, 1)).
        threshold: the cut (0.5 for logistic units, 0 for centred real codes).

    Returns:
        uint8 array (n, bits) of 0/1.
    """
    return (_as_2d("activations", activations) > threshold).astype(np.uint8)


def pack_codes(codes):
    """Pack 0/1 codes (n, bits) into uint64 words (n, ceil(bits / 64)) for fast popcount."""
    codes = _as_2d("codes", codes)
    if codes.size and not np.isin(codes, (0, 1)).all():
        raise ValueError("`codes` must hold only 0 and 1; threshold them with `binary_codes`.")
    packed = np.packbits(codes.astype(np.uint8), axis=1)
    pad = (-packed.shape[1]) % 8
    packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


_POPCOUNT_8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(words):
    """Set bits per uint64 word: `np.bitwise_count` (NumPy >= 2), else a byte lookup table."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return _POPCOUNT_8[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1)


def _chunk(chunk_size, n_database, n_words):
    """Queries per block: given, or as many as keep a block of XORs near 32 MiB."""
    if chunk_size is None:
        return max(1, (1 << 22) // max(1, n_database * n_words))
    if chunk_size < 1:
        raise ValueError(f"`chunk_size` must be positive. Received: chunk_size={chunk_size}")
    return chunk_size


def _packed_pair(query_codes, database_codes):
    query_codes = _as_2d("query_codes", query_codes)
    database_codes = _as_2d("database_codes", database_codes)
    _check_same_width(query_codes, database_codes, what="bits")
    bits = query_codes.shape[1]
    # The smallest integer type that holds a distance: NumPy's stable sort is a radix sort
    # for 8- and 16-bit integers, so ranking by distance costs O(n_database) per query.
    dtype = np.uint8 if bits < 256 else np.uint16 if bits < 65536 else np.int64
    return pack_codes(query_codes), pack_codes(database_codes), dtype


def _hamming_block(queries, database, dtype):
    """Distances from packed queries (q, words) to a packed database (n, words): (q, n)."""
    if database.shape[1] == 1:
        return _popcount(queries[:, :1] ^ database[:, 0][None, :]).astype(dtype, copy=False)
    return _popcount(queries[:, None, :] ^ database[None, :, :]).sum(axis=-1, dtype=dtype)


def hamming_distances(query_codes, database_codes, chunk_size=None):
    """All Hamming distances between 0/1 codes, by XOR and popcount on packed 64-bit words.

    Args:
        query_codes: (n_queries, bits) 0/1 codes.
        database_codes: (n_database, bits) 0/1 codes.
        chunk_size: queries per block (default: blocks of about 32 MiB).

    Returns:
        int32 array (n_queries, n_database).
    """
    queries, database, dtype = _packed_pair(query_codes, database_codes)
    chunk_size = _chunk(chunk_size, len(database), database.shape[1])
    distances = np.empty((len(queries), len(database)), dtype=np.int32)
    for start in range(0, len(queries), chunk_size):
        distances[start : start + chunk_size] = _hamming_block(
            queries[start : start + chunk_size], database, dtype
        )
    return distances


def hamming_search(query_codes, database_codes, k, chunk_size=None):
    """The k database codes nearest in Hamming distance to each query (ties: lower index first).

    Args:
        query_codes: (n_queries, bits) 0/1 codes.
        database_codes: (n_database, bits) 0/1 codes.
        k: how many items to return per query.
        chunk_size: queries per block (default: blocks of about 32 MiB).

    Returns:
        `(indices, distances)`, both (n_queries, k), nearest first.
    """
    queries, database, dtype = _packed_pair(query_codes, database_codes)
    _check_k(k, len(database))
    chunk_size = _chunk(chunk_size, len(database), database.shape[1])
    indices = np.empty((len(queries), k), dtype=np.int64)
    distances = np.empty((len(queries), k), dtype=np.int32)
    for start in range(0, len(queries), chunk_size):
        block = _hamming_block(queries[start : start + chunk_size], database, dtype)
        top = np.argsort(block, axis=1, kind="stable")[:, :k]  # ties keep index order
        indices[start : start + chunk_size] = top
        distances[start : start + chunk_size] = np.take_along_axis(block, top, axis=1)
    return indices, distances
