"""Real datasets, found where Keras users expect them: ``$KERAS_HOME/datasets/``.

| dataset        | in the cache                                      | loader               |
| -------------- | ------------------------------------------------- | -------------------- |
| MNIST          | ``mnist.npz`` (x_train, y_train, x_test, y_test)  | :func:`load_mnist`   |
| Fashion-MNIST  | ``fashion-mnist/`` with the four idx ``.gz`` files | :func:`load_fashion_mnist` |
| Reuters-21578  | ``reuters21578/`` with the 22 ``reut2-*.sgm``      | :func:`load_reuters` |
| Moving MNIST   | made from ``mnist.npz`` on the fly, seeded         | :func:`moving_mnist` |
| MNIST variants, rectangles | made from ``mnist.npz`` (or drawn), seeded | :func:`load_mnist_variant` |

A file missing from the cache is downloaded there once (``keras.utils.get_file``) unless
``AEKERAS_NO_DOWNLOAD=1``. ``keras.datasets.mnist.load_data()`` is never called: it deletes
a cached ``mnist.npz`` whose file hash differs from Keras's before it downloads, and offline
the file is then gone. We open the file with NumPy and check the array shapes instead.

When an image dataset can be neither found nor downloaded, the loader falls back to the
real handwritten digits bundled with scikit-learn (1,797 images, 8x8, resized to 28x28),
warns loudly, and says so in the ``source`` field. The text corpus has no stand-in: without
it :func:`load_reuters` raises :class:`DatasetNotFoundError`. Nothing substitutes random data.
"""

import dataclasses
import functools
import gzip
import html
import os
import re
import warnings

import numpy as np

NO_DOWNLOAD_ENV = "AEKERAS_NO_DOWNLOAD"
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
REUTERS_URL = "https://kdd.ics.uci.edu/databases/reuters21578/reuters21578.tar.gz"
REUTERS_FILES = tuple(f"reut2-{i:03d}.sgm" for i in range(22))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither in the Keras cache nor downloadable."""


class DatasetFallbackWarning(UserWarning):
    """An image dataset was missing and scikit-learn's bundled digits stand in for it."""


@dataclasses.dataclass
class ImageData:
    """Images as float32 in [0, 1], shape ``(n, 28, 28, 1)`` (or ``(n, 784)`` flattened).

    ``source`` names where the images came from; every lecture prints it.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    source: str

    @property
    def is_fallback(self) -> bool:
        return self.source.startswith("sklearn-digits")


@dataclasses.dataclass
class TextData:
    """Reuters-21578 (ModApte) as bag-of-words counts over the ``num_words`` most frequent words.

    ``x_*`` are ``(n, num_words)`` float32 counts (or SciPy CSR matrices with ``sparse=True``);
    ``y_*`` is each story's first topic as an index into ``topic_names`` (-1: no topic);
    ``topics_*`` lists every topic of each story.
    """

    x_train: object
    y_train: np.ndarray
    x_test: object
    y_test: np.ndarray
    topics_train: list
    topics_test: list
    topic_names: list
    vocabulary: list
    source: str


def keras_home() -> str:
    """The Keras cache root: ``$KERAS_HOME``, else ``~/.keras``."""
    return os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))


def keras_datasets_dir() -> str:
    """Where datasets live, as Keras keeps them: ``$KERAS_HOME/datasets``."""
    return os.path.join(keras_home(), "datasets")


def _download_allowed() -> bool:
    return os.environ.get(NO_DOWNLOAD_ENV, "").strip().lower() not in ("1", "true", "yes")


def _download(fname, origin, subdir="", extract=False):
    """Downloads ``origin`` into the Keras cache; returns the local path or raises OSError."""
    if not _download_allowed():
        raise OSError(f"downloads are switched off (${NO_DOWNLOAD_ENV}=1)")
    import keras

    return keras.utils.get_file(
        fname=fname,
        origin=origin,
        cache_dir=keras_home(),
        cache_subdir=os.path.join("datasets", subdir),
        extract=extract,
    )


def _finish_images(data, flatten, binarize, dtype="float32"):
    """Scales uint8 images to [0, 1] with a channel axis; optional flatten / binarize."""
    out = []
    for x in (data[0], data[2]):
        x = np.asarray(x, dtype=dtype)
        if x.max() > 1.0:
            x = x / np.asarray(255.0, dtype)
        x = x[..., None] if x.ndim == 3 else x
        if binarize:
            x = (x > 0.5).astype(dtype)
        if flatten:
            x = x.reshape(len(x), -1)
        out.append(x)
    return out[0], data[1].astype("int64"), out[1], data[3].astype("int64")


def _sklearn_digits(missing, how_to):
    """The real 8x8 digits bundled with scikit-learn, resized to 28x28, as a loud fallback."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    warnings.warn(
        f"{missing} was not found and could not be downloaded. {how_to} "
        "Falling back to scikit-learn's 1,797 bundled 8x8 digits resized to 28x28: "
        "results on them are NOT comparable with published MNIST numbers.",
        DatasetFallbackWarning,
        stacklevel=3,
    )
    digits = load_digits()
    images = digits.images / 16.0  # 0..16 -> 0..1
    big = np.stack([zoom(im, 28 / 8, order=1) for im in images]).clip(0, 1) * 255
    y = digits.target
    # A fixed, stratified-enough split: every 6th image is a test image.
    test = np.arange(len(y)) % 6 == 0
    return (big[~test], y[~test], big[test], y[test])


def _check_image_arrays(arrays, path):
    x_train, y_train, x_test, y_test = arrays
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
            raise ValueError(
                f"{path} holds {name} images of shape {x.shape} with {len(y)} labels; "
                "expected (n, 28, 28) images and n labels. Delete the file and provide a "
                "correct copy."
            )


def _load_mnist_arrays():
    path = os.path.join(keras_datasets_dir(), "mnist.npz")
    if not os.path.exists(path):
        _download("mnist.npz", MNIST_URL)
    with np.load(path) as f:
        arrays = tuple(f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    _check_image_arrays(arrays, path)
    return arrays


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _load_fashion_arrays():
    folder = os.path.join(keras_datasets_dir(), "fashion-mnist")
    paths = []
    for name in FASHION_FILES:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            path = _download(name, FASHION_URL + name, subdir="fashion-mnist")
        paths.append(path)
    y_train, x_train, y_test, x_test = (_read_idx(p) for p in paths)
    arrays = (x_train, y_train, x_test, y_test)
    _check_image_arrays(arrays, folder)
    return arrays


def _load_images(name, loader, missing, how_to, class_names, flatten, binarize):
    try:
        arrays = loader()
        source = name
    except (OSError, Exception) as err:  # noqa: BLE001 - any failure to find/download falls back
        if isinstance(err, ValueError):
            raise
        arrays = _sklearn_digits(missing, how_to + f" ({type(err).__name__}: {err})")
        source = f"sklearn-digits (fallback: {name} missing from {keras_datasets_dir()})"
        class_names = tuple(str(i) for i in range(10))
    x_train, y_train, x_test, y_test = _finish_images(arrays, flatten, binarize)
    return ImageData(x_train, y_train, x_test, y_test, tuple(class_names), source)


def load_mnist(flatten=False, binarize=False):
    """MNIST digits: 60,000 training and 10,000 test images, float32 in [0, 1].

    Args:
        flatten: return ``(n, 784)`` vectors for dense models instead of ``(n, 28, 28, 1)``.
        binarize: threshold at 0.5 to {0, 1} (for the RBM).

    Returns:
        :class:`ImageData`; its ``source`` is ``"mnist"`` or names the fallback.
    """
    where = os.path.join(keras_datasets_dir(), "mnist.npz")
    how_to = (
        f"Looked for {where}. Provide it by copying a Keras-layout mnist.npz there "
        "(set KERAS_HOME to use another cache), or go online once so it downloads."
    )
    return _load_images(
        "mnist", _load_mnist_arrays, "mnist.npz", how_to,
        tuple(str(i) for i in range(10)), flatten, binarize,
    )  # fmt: skip


def load_fashion_mnist(flatten=False, binarize=False):
    """Fashion-MNIST: 60,000 training and 10,000 test images of clothes, float32 in [0, 1].

    Args and return value as :func:`load_mnist`.
    """
    where = os.path.join(keras_datasets_dir(), "fashion-mnist")
    how_to = (
        f"Looked in {where} for {', '.join(FASHION_FILES)}. Copy the four original idx .gz "
        "files there (set KERAS_HOME to use another cache), or go online once."
    )
    return _load_images(
        "fashion-mnist", _load_fashion_arrays, "Fashion-MNIST", how_to,
        FASHION_CLASSES, flatten, binarize,
    )  # fmt: skip


def load_images(name="mnist", **kwargs):
    """``load_mnist`` or ``load_fashion_mnist`` by name (``"mnist"`` / ``"fashion-mnist"``)."""
    loaders = {
        "mnist": load_mnist,
        "fashion-mnist": load_fashion_mnist,
        "fashion_mnist": load_fashion_mnist,
    }
    if name not in loaders:
        raise ValueError(
            f"Unknown image dataset. Expected one of {sorted(loaders)}. Received: {name!r}"
        )
    return loaders[name](**kwargs)


# --------------------------------------------------------------------------- Reuters-21578

_DOC = re.compile(r"<REUTERS(?P<attrs>[^>]*)>(?P<body>.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.S)
_D = re.compile(r"<D>(.*?)</D>", re.S)
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.S)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.S)


def _reuters_folder():
    folder = os.path.join(keras_datasets_dir(), "reuters21578")
    missing = [f for f in REUTERS_FILES if not os.path.exists(os.path.join(folder, f))]
    if not missing:
        return folder
    try:
        _download("reuters21578.tar.gz", REUTERS_URL, subdir="reuters21578", extract=True)
        extracted = os.path.join(folder, "reuters21578.tar.gz_extracted")
        if os.path.isdir(extracted):
            for name in os.listdir(extracted):
                os.replace(os.path.join(extracted, name), os.path.join(folder, name))
        missing = [f for f in REUTERS_FILES if not os.path.exists(os.path.join(folder, f))]
        if not missing:
            return folder
        err = "the downloaded archive did not hold them"
    except Exception as e:  # noqa: BLE001
        err = f"{type(e).__name__}: {e}"
    raise DatasetNotFoundError(
        f"Reuters-21578 is missing: {missing[0]} (and {len(missing) - 1} more of "
        f"reut2-000.sgm ... reut2-021.sgm) not found in {folder}, and downloading failed "
        f"({err}). Provide it by extracting the 22 reut2-*.sgm files of Distribution 1.0 "
        f"(reuters21578.tar.gz from the UCI KDD archive) into {folder}, or set KERAS_HOME to "
        "a cache that has them."
    )


@functools.lru_cache(maxsize=2)
def read_reuters_modapte(folder):
    """Parses the SGML files: ModApte stories as ``(split, topics, text)`` tuples.

    ModApte: ``LEWISSPLIT="TRAIN"`` or ``"TEST"`` with ``TOPICS="YES"`` (9,603 / 3,299 stories).
    The files are read as latin-1 (they are not valid UTF-8 throughout).
    """
    stories = []
    for name in REUTERS_FILES:
        with open(os.path.join(folder, name), encoding="latin-1") as f:
            raw = f.read()
        for doc in _DOC.finditer(raw):
            attrs = dict(_ATTR.findall(doc["attrs"]))
            if attrs.get("TOPICS") != "YES" or attrs.get("LEWISSPLIT") not in ("TRAIN", "TEST"):
                continue
            body = doc["body"]
            topics_block = _TOPICS.search(body)
            topics = _D.findall(topics_block.group(1)) if topics_block else []
            title = _TITLE.search(body)
            text = _BODY.search(body)
            words = " ".join(m.group(1) for m in (title, text) if m)
            stories.append((attrs["LEWISSPLIT"].lower(), tuple(topics), html.unescape(words)))
    return stories


def load_reuters(num_words=2000, sparse=False, stop_words="english"):
    """Reuters-21578 newswires (ModApte split) as bag-of-words counts.

    The vocabulary is the ``num_words`` most frequent words of the training stories
    (lower-cased alphabetic tokens of two or more letters, English stop words removed),
    counted over title and body.

    Args:
        num_words: vocabulary size N (2000, as in Hinton & Salakhutdinov 2006).
        sparse: return SciPy CSR matrices instead of dense float32 counts.
        stop_words: passed to scikit-learn's ``CountVectorizer`` (``None`` keeps them).

    Raises:
        DatasetNotFoundError: the SGML files are not in the cache and cannot be downloaded.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    if int(num_words) < 1:
        raise ValueError(f"num_words must be a positive integer. Received: num_words={num_words}")
    folder = _reuters_folder()
    stories = read_reuters_modapte(folder)
    train = [s for s in stories if s[0] == "train"]
    test = [s for s in stories if s[0] == "test"]
    vectorizer = CountVectorizer(
        max_features=int(num_words),
        stop_words=stop_words,
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",
        dtype=np.float32,
    )
    x_train = vectorizer.fit_transform(s[2] for s in train)
    x_test = vectorizer.transform(s[2] for s in test)
    topic_names = sorted({t for s in train + test for t in s[1]})
    index = {t: i for i, t in enumerate(topic_names)}

    def labels(split):
        return np.array([index[s[1][0]] if s[1] else -1 for s in split], dtype="int64")

    if not sparse:
        x_train, x_test = x_train.toarray(), x_test.toarray()
    return TextData(
        x_train=x_train,
        y_train=labels(train),
        x_test=x_test,
        y_test=labels(test),
        topics_train=[list(s[1]) for s in train],
        topics_test=[list(s[1]) for s in test],
        topic_names=topic_names,
        vocabulary=list(vectorizer.get_feature_names_out()),
        source="reuters21578 (ModApte)",
    )


# --------------------------------------------------------------------------- Moving MNIST


@dataclasses.dataclass
class SequenceData:
    """Moving MNIST sequences: ``x`` of shape ``(n, frames, size, size, 1)``, float32 in [0, 1].

    ``digits`` ``(n, n_digits)`` are the MNIST labels of the digits in each sequence and
    ``source`` names the images they came from (``"moving-mnist from mnist (train)"``).
    """

    x: np.ndarray
    digits: np.ndarray
    source: str


def _bounce(n_frames, limit, speed, rng):
    """Top-left corners ``(n_frames, 2)`` of a digit moving in a straight line, reflected at
    the walls ``0`` and ``limit``, with a uniform start and a uniform direction."""
    position = rng.uniform(0, limit, size=2)
    theta = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.sin(theta), np.cos(theta)])
    corners = np.empty((n_frames, 2))
    for t in range(n_frames):
        corners[t] = position
        position = position + velocity
        for axis in range(2):
            if position[axis] < 0:
                position[axis], velocity[axis] = -position[axis], -velocity[axis]
            elif position[axis] > limit:
                position[axis], velocity[axis] = 2 * limit - position[axis], -velocity[axis]
    return np.rint(corners).astype(int)


def moving_mnist(
    n_sequences,
    n_frames=20,
    size=64,
    digit_size=28,
    n_digits=2,
    speed=None,
    split="train",
    seed=0,
    images=None,
):
    """Moving MNIST (Srivastava, Mansimov & Salakhutdinov 2015), made from real MNIST digits.

    Each sequence shows ``n_digits`` digits, drawn at random from the MNIST ``split``, that
    move in a ``size x size`` frame: each starts at a uniform position with a uniform
    direction and a fixed speed, and bounces off the walls (its velocity is reflected). Where
    digits overlap the brighter pixel wins (``max``), as in the paper's generator. The
    default is the paper's dataset: two 28x28 digits in 64x64 frames, 20 frames (10 to
    encode, 10 to predict). ``size=32, digit_size=14`` is the quarter-size version the
    ``smoke``/``cpu`` profiles use: the same digits, mean-pooled 2x2.

    Args:
        n_sequences: how many sequences.
        n_frames: frames per sequence.
        size: height and width of a frame, at least ``digit_size``.
        digit_size: 28, 14 or 7 (the MNIST digit mean-pooled 1x, 2x or 4x).
        n_digits: digits per sequence.
        speed: pixels per frame; ``None`` is ``3 * digit_size / 28`` (3 in 64x64 frames).
        split: ``"train"`` or ``"test"``: which MNIST images the digits come from, so test
            sequences never show a training digit.
        seed: the seed of NumPy's generator: the same seed gives the same sequences.
        images: optional :class:`ImageData` to draw from instead of :func:`load_mnist`.

    Returns:
        :class:`SequenceData`.

    Example:

    ```python
    data = moving_mnist(1000)          # (1000, 20, 64, 64, 1)
    past, future = data.x[:, :10], data.x[:, 10:]
    ```
    """
    if digit_size not in (28, 14, 7):
        raise ValueError(f"`digit_size` must be 28, 14 or 7. Received: digit_size={digit_size}")
    if size < digit_size:
        raise ValueError(
            f"`size` must be at least `digit_size` ({digit_size}). Received: size={size}"
        )
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: split={split!r}")
    for name, value in (
        ("n_sequences", n_sequences),
        ("n_frames", n_frames),
        ("n_digits", n_digits),
    ):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    images = images if images is not None else load_mnist()
    x = images.x_train if split == "train" else images.x_test
    y = images.y_train if split == "train" else images.y_test
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(x), size=(n_sequences, n_digits))
    pool = 28 // digit_size
    digits = x[pick.ravel(), :, :, 0]
    digits = digits.reshape(-1, digit_size, pool, digit_size, pool).mean(axis=(2, 4))
    digits = digits.reshape(n_sequences, n_digits, digit_size, digit_size)
    speed = 3.0 * digit_size / 28 if speed is None else float(speed)
    limit = size - digit_size
    frames = np.zeros((n_sequences, n_frames, size, size), "float32")
    for i in range(n_sequences):
        for k in range(n_digits):
            for t, (r, c) in enumerate(_bounce(n_frames, limit, speed, rng)):
                window = frames[i, t, r : r + digit_size, c : c + digit_size]
                np.maximum(window, digits[i, k], out=window)
    return SequenceData(
        x=frames[..., None],
        digits=y[pick].astype("int64"),
        source=f"moving-mnist from {images.source} ({split})",
    )


# --------------------------------------------------------------------------- Larochelle et al. 2007 variants
#
# The MNIST variants and the rectangles task of Larochelle, Erhan, Courville, Bergstra &
# Bengio (2007), "An empirical evaluation of deep architectures on problems with many factors
# of variation" (ICML), on which Vincent et al. (2008, Table 1) compare SAA-3 and SdA-3.

VARIANTS = ("basic", "rot", "bg-rand", "rot+bg-rand", "rect")
# (train, valid, test) as in Larochelle et al. 2007; the rectangles task is the small one.
VARIANT_SIZES = {
    "basic": (10_000, 2_000, 50_000),
    "rot": (10_000, 2_000, 50_000),
    "bg-rand": (10_000, 2_000, 50_000),
    "rot+bg-rand": (10_000, 2_000, 50_000),
    "rect": (1_000, 200, 50_000),
}
RECT_CLASSES = ("wide", "tall")


@dataclasses.dataclass
class VariantData(ImageData):
    """:class:`ImageData` with the validation split the papers select hyper-parameters on."""

    x_valid: np.ndarray
    y_valid: np.ndarray


def rotate_digits(images, angles):
    """Rotates each image counter-clockwise (as shown by ``imshow``) about its centre.

    Formula: x'(p) = x(c + R(-θ)(p - c)), c the image centre, R(θ) the rotation by θ, read off
    with bilinear interpolation (``scipy.ndimage.rotate(..., reshape=False, order=1)``), zero
    outside the image, clipped to [0, 1]. Larochelle et al. (2007) draw θ ~ U[0, 2π).

    Args:
        images: ``(n, h, w)`` or ``(n, h, w, 1)`` floats in [0, 1].
        angles: ``(n,)`` angles in radians.

    Returns:
        float32 images of the input's shape.
    """
    from scipy.ndimage import rotate

    images = np.asarray(images, dtype="float32")
    angles = np.asarray(angles, dtype="float64").reshape(-1)
    if len(angles) != len(images):
        raise ValueError(
            f"Expected one angle per image. Received: {len(images)} images, {len(angles)} angles"
        )
    flat = images[..., 0] if images.ndim == 4 else images
    out = np.stack(
        [
            rotate(x, np.degrees(a), reshape=False, order=1, mode="constant", cval=0.0)
            for x, a in zip(flat, angles)
        ]
    ) if len(flat) else flat.copy()  # fmt: skip
    out = out.clip(0.0, 1.0).astype("float32")
    return out[..., None] if images.ndim == 4 else out


def random_background(images, rng):
    """Puts uniform noise behind each digit: x' = x where x > 0, else u ~ U[0, 1] per pixel.

    Larochelle et al. (2007, mnist-back-rand) fill the background with pixels drawn uniformly
    in [0, 255]. How a background pixel is told from a digit pixel is not given there; our
    rule: a pixel is background where the digit image is exactly 0, and keeps its value
    elsewhere (the digit and its anti-aliased edge stay as they are).

    Args:
        images: floats in [0, 1], any shape ``(n, ...)``.
        rng: a NumPy ``Generator``.
    """
    images = np.asarray(images, dtype="float32")
    noise = rng.uniform(0.0, 1.0, size=images.shape).astype("float32")
    return np.where(images > 0.0, images, noise)


def rectangles(n, rng, size=28, min_side=3, min_gap=3):
    """The rectangles task: one white rectangle outline (1-pixel border) on a black image.

    Height h and width w are integers drawn uniformly in [min_side, size], redrawn while
    |h - w| < min_gap, so no rectangle is nearly square; the top-left corner is uniform among
    the positions where the whole rectangle fits. Label 1 ("tall") when h > w, else 0
    ("wide"). Larochelle et al. (2007) describe the task so (rectangles anywhere in the 28x28
    image, tall vs wide); the exact ranges are our choice, stated here.

    Returns:
        ``(x, y)``: float32 images ``(n, size, size)`` in {0, 1} and int64 labels ``(n,)``.
    """
    if not 1 <= min_side <= size or min_gap > size - min_side:
        raise ValueError(
            f"Need 1 <= min_side <= size and min_gap <= size - min_side. Received: "
            f"size={size}, min_side={min_side}, min_gap={min_gap}"
        )
    hw = np.empty((0, 2), dtype="int64")
    while len(hw) < n:
        draw = rng.integers(min_side, size + 1, size=(2 * (n - len(hw)) + 16, 2))
        hw = np.concatenate([hw, draw[np.abs(draw[:, 0] - draw[:, 1]) >= min_gap]])
    h, w = hw[:n, 0], hw[:n, 1]
    top = rng.integers(0, size - h + 1)
    left = rng.integers(0, size - w + 1)
    rows, cols = np.arange(size)[None, :, None], np.arange(size)[None, None, :]
    t, lft = top[:, None, None], left[:, None, None]
    b, r = t + h[:, None, None] - 1, lft + w[:, None, None] - 1
    inside = (rows >= t) & (rows <= b) & (cols >= lft) & (cols <= r)
    border = (rows == t) | (rows == b) | (cols == lft) | (cols == r)
    return (inside & border).astype("float32"), (h > w).astype("int64")


def _stream(seed, split, factor):
    """An independent generator per (seed, split, factor): a smaller split is a prefix."""
    return np.random.default_rng([int(seed), split, factor])


def load_mnist_variant(
    name="rot", n_train=None, n_valid=None, n_test=None, seed=0, flatten=False, images=None
):
    """A Larochelle et al. (2007) variant: ``basic``, ``rot``, ``bg-rand``, ``rot+bg-rand``, ``rect``.

    * ``basic``: MNIST digits as they are;
    * ``rot``: each digit rotated by θ ~ U[0, 2π) (:func:`rotate_digits`);
    * ``bg-rand``: uniform noise behind each digit (:func:`random_background`);
    * ``rot+bg-rand``: rotated, then the noise behind;
    * ``rect``: tall vs wide rectangle outlines (:func:`rectangles`), labels 0/1.

    Sizes default to the papers': 10,000 train / 2,000 valid / 50,000 test (rect: 1,000 /
    200 / 50,000), 62,000 digits of MNIST's 70,000 (we do not reproduce which ones Larochelle
    et al. took). We keep MNIST's own split apart: train and valid digits come from MNIST's
    training set (a seeded permutation), test digits first from MNIST's test set (all 10,000,
    shuffled), then from training digits not used for train or valid, so no test digit is a
    training digit. Each
    split and each factor (angle, background) has its own seeded stream, so the same seed
    gives the same data, and a smaller ``n_*`` gives a prefix of the full split.

    Args:
        name: one of :data:`VARIANTS`.
        n_train, n_valid, n_test: sizes (``None``: the paper's); profiles pass smaller ones.
        seed: the seed; the same seed gives the same data.
        flatten: ``(n, 784)`` vectors instead of ``(n, 28, 28, 1)`` images.
        images: optional :class:`ImageData` to draw digits from instead of :func:`load_mnist`.

    Returns:
        :class:`VariantData`, float32 in [0, 1], int64 labels; ``source`` names the variant,
        the digits' source and the seed.
    """
    if name not in VARIANTS:
        raise ValueError(f"Unknown variant. Expected one of {VARIANTS}. Received: name={name!r}")
    sizes = [d if n is None else n for n, d in zip((n_train, n_valid, n_test), VARIANT_SIZES[name])]
    for label, n in zip(("n_train", "n_valid", "n_test"), sizes):
        if not (isinstance(n, (int, np.integer)) and n >= 0):
            raise ValueError(f"`{label}` must be an integer >= 0. Received: {label}={n!r}")
    n_train, n_valid, n_test = (int(n) for n in sizes)

    if name == "rect":
        parts = [rectangles(n, _stream(seed, k, 0)) for k, n in enumerate(sizes)]
        class_names, source = RECT_CLASSES, f"rectangles (Larochelle et al. 2007 task, seed {seed})"
    else:
        images = images if images is not None else load_mnist()
        x_tr, y_tr = images.x_train.reshape(-1, 28, 28), images.y_train
        x_te, y_te = images.x_test.reshape(-1, 28, 28), images.y_test
        order = _stream(seed, 3, 0).permutation(len(x_tr))
        test_order = _stream(seed, 4, 0).permutation(len(x_te))
        extra = max(0, n_test - len(x_te))
        if n_train + n_valid + extra > len(x_tr):
            raise ValueError(
                f"{images.source} has {len(x_tr)} training and {len(x_te)} test images: too few "
                f"for n_train={n_train}, n_valid={n_valid}, n_test={n_test}."
            )
        train_idx, valid_idx = order[:n_train], order[n_train : n_train + n_valid]
        spare = order[n_train + n_valid : n_train + n_valid + extra]
        splits = [
            (x_tr[train_idx], y_tr[train_idx]),
            (x_tr[valid_idx], y_tr[valid_idx]),
            (
                np.concatenate([x_te[test_order[:n_test]], x_tr[spare]]),
                np.concatenate([y_te[test_order[:n_test]], y_tr[spare]]),
            ),
        ]
        parts = []
        for k, (x, y) in enumerate(splits):
            if "rot" in name:
                x = rotate_digits(x, _stream(seed, k, 1).uniform(0.0, 2 * np.pi, len(x)))
            if "bg-rand" in name:
                x = random_background(x, _stream(seed, k, 2))
            parts.append((x.astype("float32"), y.astype("int64")))
        class_names = images.class_names
        source = f"{images.source} {name} (Larochelle et al. 2007 variant, seed {seed})"
    shape = (-1, 784) if flatten else (-1, 28, 28, 1)
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
        (x.reshape(shape), y) for x, y in parts
    )
    return VariantData(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        class_names=tuple(class_names), source=source, x_valid=x_valid, y_valid=y_valid,
    )  # fmt: skip


# --------------------------------------------------------------------------- dSprites-like shapes
# dSprites-like shapes (Matthey et al. 2017)

DSPRITES_FACTORS = ("shape", "scale", "orientation", "x", "y")
DSPRITES_SHAPES = ("square", "ellipse", "heart")
_SPRITE_RADIUS = 0.15  # shape radius at scale 1, as a fraction of the image side
_SPRITE_CHUNK = 2048  # images rasterised at once (bounds the temporary arrays)


@dataclasses.dataclass
class FactorData:
    """Images with the known factors that generated them (for disentanglement metrics).

    ``x`` is ``(n, size, size, 1)`` float32 in {0, 1}; ``factors`` is ``(n, n_factors)`` int64,
    each column the index of a factor's value; ``values`` holds the values themselves (shape
    index, scale, orientation in radians, x and y in [0, 1]); ``factor_sizes[k]`` is how many
    values factor ``k`` takes.
    """

    x: np.ndarray
    factors: np.ndarray
    values: np.ndarray
    factor_names: tuple
    factor_sizes: tuple
    source: str


def dsprites_factor_values(n_scales=6, n_orientations=40, n_positions=32):
    """The value grid of each factor: ``{name: 1-D array}`` in :data:`DSPRITES_FACTORS` order.

    shape: 0, 1, 2 (square, ellipse, heart); scale: ``n_scales`` values in [0.5, 1];
    orientation: ``n_orientations`` angles in [0, 2π) (dSprites' 40 angles include both 0 and
    2π; ours leave out the duplicate); x, y: ``n_positions`` values in [0, 1].
    """
    return {
        "shape": np.arange(len(DSPRITES_SHAPES), dtype=float),
        "scale": np.linspace(0.5, 1.0, n_scales),
        "orientation": np.linspace(0.0, 2 * np.pi, n_orientations, endpoint=False),
        "x": np.linspace(0.0, 1.0, n_positions),
        "y": np.linspace(0.0, 1.0, n_positions),
    }


def _inside(shape, u, v):
    """Whether points (u, v) of a shape's own frame (radius 1) lie inside it."""
    if shape == 0:  # square of half-side 1/sqrt(2): its corners touch the unit circle
        return np.maximum(np.abs(u), np.abs(v)) <= np.sqrt(0.5)
    if shape == 1:  # ellipse with semi-axes 1 and 1/2
        return u**2 + (2 * v) ** 2 <= 1.0
    # heart: (a² + b² - 1)³ - a² b³ <= 0, point down; (a, b) = 1.25 (u, -v) + (0, 1/4)
    # puts it inside the unit circle (its farthest points lie 1.25 from (0, 1/4))
    a, b = 1.25 * u, 0.25 - 1.25 * v
    return (a**2 + b**2 - 1) ** 3 - a**2 * b**3 <= 0


def render_sprites(factors, size=64, n_scales=6, n_orientations=40, n_positions=32):
    """Rasterises one binary sprite per row of ``factors`` (indices into the value grids).

    A pixel is on when its centre falls inside the shape, scaled, rotated by the orientation
    (counter-clockwise on the screen) and centred at (x, y): x runs left to right, y top to
    bottom, over ``[m, size - m]`` pixels with a margin ``m`` of one radius plus one pixel
    (every shape fits in the circle of its radius: 0.15 of the image side at scale 1).

    Args:
        factors: int array ``(n, 5)``: shape, scale, orientation, x and y indices.
        size, n_scales, n_orientations, n_positions: as :func:`dsprites_like`.

    Returns:
        float32 ``(n, size, size, 1)`` in {0, 1}.
    """
    factors = np.asarray(factors, dtype=np.int64).reshape(-1, len(DSPRITES_FACTORS))
    grids = dsprites_factor_values(n_scales, n_orientations, n_positions)
    sizes = [len(g) for g in grids.values()]
    if factors.size and ((factors < 0).any() or (factors >= np.array(sizes)).any()):
        raise ValueError(f"Factor indices must lie in [0, {sizes}) per column.")
    radius = _SPRITE_RADIUS * size
    margin = radius + 1.0  # every shape lies in its circle: one pixel off the border
    pixel = np.arange(size, dtype=np.float32) + 0.5
    images = np.zeros((len(factors), size, size), np.float32)
    for start in range(0, len(factors), _SPRITE_CHUNK):
        f = factors[start : start + _SPRITE_CHUNK]
        r = (radius * grids["scale"][f[:, 1]]).astype(np.float32)[:, None, None]
        angle = grids["orientation"][f[:, 2]]
        cos, sin = (np.float32(1) * t[:, None, None] for t in (np.cos(angle), np.sin(angle)))
        cx = (margin + grids["x"][f[:, 3]] * (size - 2 * margin)).astype(np.float32)
        cy = (margin + grids["y"][f[:, 4]] * (size - 2 * margin)).astype(np.float32)
        dx = (pixel[None, None, :] - cx[:, None, None]) / r  # columns
        dy = (cy[:, None, None] - pixel[None, :, None]) / r  # rows, pointing up
        u, v = cos * dx + sin * dy, cos * dy - sin * dx  # rotate the frame by -angle
        out = images[start : start + len(f)]
        for shape in range(len(DSPRITES_SHAPES)):
            rows = f[:, 0] == shape
            if rows.any():
                out[rows] = _inside(shape, u[rows], v[rows])
    return images[..., None]


def dsprites_like(
    n=None, size=64, n_scales=6, n_orientations=40, n_positions=32, seed=0, replace=False
):
    """Binary images of shapes with five known factors, made as Matthey et al. (2017) made dSprites.

    Shape (square, ellipse, heart) x scale (``n_scales`` values in [0.5, 1]) x orientation
    (``n_orientations`` angles in [0, 2π)) x position x and y (``n_positions`` values each in
    [0, 1]): every combination of factor values is one image, 3 x 6 x 40 x 32 x 32 = 737,280 of
    them with the defaults, 64 x 64 pixels, as in dSprites (Matthey, Higgins, Hassabis &
    Lerchner 2017, github.com/deepmind/dsprites-dataset; used by Higgins et al. 2017 for the
    β-VAE and by Chen et al. 2018 for MIG). Ours are drawn procedurally with NumPy, so shapes'
    outlines and sizes differ from DeepMind's files; the factor structure is the same.

    Args:
        n: how many images: a seeded random sample of factor combinations (without
            replacement unless ``replace``); ``None``: the full factorial grid, in order
            (12 GB of float32 at the default sizes: sample, or shrink the grid).
        size: image height and width in pixels (64 as in dSprites; 32 for small budgets).
        n_scales, n_orientations, n_positions: values per factor.
        seed: seed of NumPy's generator: the same seed gives the same images.
        replace: sample combinations with replacement (for ``n`` above the grid's size).

    Returns:
        :class:`FactorData`.

    Example:

    ```python
    data = dsprites_like(10_000, size=32, seed=0)
    data.x.shape, data.factors.shape     # (10000, 32, 32, 1), (10000, 5)
    ```
    """
    grids = dsprites_factor_values(n_scales, n_orientations, n_positions)
    sizes = tuple(len(g) for g in grids.values())
    if min(sizes[1:]) < 1 or int(size) < 8:
        raise ValueError(
            f"Need at least one value per factor and size >= 8. Received: sizes={sizes}, "
            f"size={size}"
        )
    total = int(np.prod(sizes))
    if n is None:
        flat = np.arange(total)
    else:
        if not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ValueError(f"`n` must be a positive integer or None. Received: n={n!r}")
        if n > total and not replace:
            raise ValueError(
                f"`n`={n} exceeds the {total} factor combinations; pass replace=True or n=None."
            )
        flat = np.random.default_rng(seed).choice(total, size=n, replace=replace)
    factors = np.stack(np.unravel_index(flat, sizes), axis=1).astype(np.int64)
    values = np.stack([g[factors[:, k]] for k, g in enumerate(grids.values())], axis=1)
    x = render_sprites(factors, size, n_scales, n_orientations, n_positions)
    return FactorData(
        x=x,
        factors=factors,
        values=values,
        factor_names=DSPRITES_FACTORS,
        factor_sizes=sizes,
        source=f"dsprites-like (procedural, {size}x{size}, seed {seed})",
    )
