"""Real datasets, found where Keras users expect them: ``$KERAS_HOME/datasets/``.

| dataset        | in the cache                                      | loader               |
| -------------- | ------------------------------------------------- | -------------------- |
| MNIST          | ``mnist.npz`` (x_train, y_train, x_test, y_test)  | :func:`load_mnist`   |
| Fashion-MNIST  | ``fashion-mnist/`` with the four idx ``.gz`` files | :func:`load_fashion_mnist` |
| Reuters-21578  | ``reuters21578/`` with the 22 ``reut2-*.sgm``      | :func:`load_reuters` |
| Moving MNIST   | made from ``mnist.npz`` on the fly, seeded         | :func:`moving_mnist` |

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
