"""Convolutional networks: parameter counts and activation shapes, and translation invariance.

Solve kind ``cnn-shapes`` (part a). A layer is ``CONV<k>-<F>`` (F filters of k x k, stride 1,
zero padding (k-1)//2, one bias per filter), ``POOL<k>`` (k x k max pooling, stride k, no
padding), ``FLATTEN`` or ``FC-<K>`` (K outputs with biases).

Part (b): a network of circularly padded convolutions (stride 1, padding that keeps the size),
ReLUs, global average pooling and a fully connected layer is exactly invariant to circular shifts
of its input. The images are H x W (the original exam's are 7 x 8, with one-pixel lines; drawn
ones are square, with edges); the network's layers are a parameter (``net``) and are stated. Convolution with wrap-around padding commutes
with a circular shift, ReLU acts pixel by pixel, and the average over all positions forgets
where things were. So a shifted copy of an image has the same features as the image.
"""
from __future__ import annotations

import functools
import itertools
import re

import numpy as np
from pydantic import model_validator
from numpy.lib.stride_tricks import sliding_window_view

from generator.errors import ParamError
from generator.params import string_list, tidy, vector
from generator.problem import Problem, Reject, Space, choice
from generator.registry import register, register_kind
from generator.texify import Tex, escape, fmt_num, vec

# ---------------------------------------------------------------------------------------------
# Solve kind cnn-shapes: shape arithmetic by formula.

_CONV = re.compile(r"CONV(\d+)-(\d+)")
_POOL = re.compile(r"POOL(\d+)")
_FC = re.compile(r"FC-(\d+)")
_NAMES = "CONV<k>-<F>, POOL<k>, FLATTEN or FC-<K>"


def _layer_rows(params: dict) -> list[dict]:
    """Each layer's name, parameter count, output shape, weight-array shape and bias count.

    A pooling layer fits only when k divides both the height and the width: a size that would
    have to be floored (or a window larger than the input) is refused as "does not fit".
    A convolution fits when the zero-padded input is at least k wide: its output size is
    H + 2*((k-1)//2) - k + 1, which equals H for odd k and H - 1 for even k.
    """
    shape = vector(params, "input", length=3, integer=True)
    if any(x < 1 for x in shape):
        raise ParamError("input", f"height, width and channels must be positive, got {shape!r}")
    names = string_list(params, "layers")
    h, w, c = shape
    flat = None  # the vector length once flattened
    rows = []
    for i, name in enumerate(names):
        where = f"layers[{i}]"
        conv, pool, fc = _CONV.fullmatch(name), _POOL.fullmatch(name), _FC.fullmatch(name)
        if conv or pool:
            if flat is not None:
                raise ParamError(where, f"{name} comes after FLATTEN; it needs an H x W x C input")
            k = int((conv or pool).group(1))
            if k < 1:
                raise ParamError(where, f"{name}: the window size must be at least 1")
        if conv:
            f = int(conv.group(2))
            if f < 1:
                raise ParamError(where, f"{name}: the number of filters must be at least 1")
            pad = (k - 1) // 2
            oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
            if oh < 1 or ow < 1:
                raise ParamError(where, f"{name}: {k}x{k} filters with padding {pad} do not fit "
                                        f"the {h}x{w} input")
            rows.append({"layer": name, "params": k * k * c * f + f, "shape": [oh, ow, f],
                         "weights": [k, k, c, f], "bias": f})
            h, w, c = oh, ow, f
        elif pool:
            if h % k or w % k:
                raise ParamError(where, f"{name}: {k}x{k} pooling with stride {k} does not fit the "
                                        f"{h}x{w} input ({k} must divide both sizes)")
            h, w = h // k, w // k
            rows.append({"layer": name, "params": 0, "shape": [h, w, c], "weights": [], "bias": 0})
        elif name == "FLATTEN":
            if flat is not None:
                raise ParamError(where, "a second FLATTEN; the activation is already a vector")
            flat = h * w * c
            rows.append({"layer": name, "params": 0, "shape": [flat], "weights": [], "bias": 0})
        elif fc:
            k = int(fc.group(1))
            if k < 1:
                raise ParamError(where, f"{name}: the number of outputs must be at least 1")
            if flat is None:
                raise ParamError(where, f"{name} comes before FLATTEN; fully connected layers take a vector")
            rows.append({"layer": name, "params": flat * k + k, "shape": [k], "weights": [flat, k], "bias": k})
            flat = k
        else:
            raise ParamError(where, f"unknown layer name {name!r}; expected {_NAMES}")
    return rows


def solve_kind(params: dict) -> dict:
    """Parameters and output shape of every layer (see :func:`_layer_rows` for what fits)."""
    return {"rows": [{k: r[k] for k in ("layer", "params", "shape")} for r in _layer_rows(params)]}


def _simulate(input_shape: list, layers: list) -> list[dict]:
    """Independent route: push a zero array through real numpy layers and count weight arrays."""
    return [{"layer": name, "params": count, "shape": list(shape), "weights": list(weights), "bias": bias}
            for name, count, shape, weights, bias in _forward_pass(tuple(input_shape), tuple(layers))]


@functools.lru_cache(maxsize=64)
def _forward_pass(input_shape: tuple, layers: tuple) -> tuple[tuple, ...]:
    """:func:`_simulate`'s rows as tuples. The problem's check and its kind's check both ask for the
    same pass of an instance, so it is remembered (a pure function of its arguments)."""
    x = np.zeros(input_shape)
    rows = []
    for i, name in enumerate(layers):
        try:
            weights = bias = None  # pooling and flattening own no arrays
            if name.startswith("CONV"):
                k, f = (int(t) for t in name[4:].split("-"))
                weights, bias = np.zeros((k, k, x.shape[2], f)), np.zeros(f)
                p = (k - 1) // 2
                padded = np.pad(x, ((p, p), (p, p), (0, 0)))
                windows = sliding_window_view(padded, (k, k), axis=(0, 1))  # (H', W', C, k, k)
                # Summed over the window: (H', W', C) @ (C, F) matrix products (one einsum over
                # all six indices took most of the check's time).
                x = sum(windows[..., i, j] @ weights[i, j] for i in range(k) for j in range(k)) + bias
            elif name.startswith("POOL"):
                k = int(name[4:])
                hh, ww, c = x.shape
                # A reshape into k x k blocks fails unless k divides both sizes.
                x = x.reshape(hh // k, k, ww // k, k, c).max(axis=(1, 3))
            elif name == "FLATTEN":
                x = x.reshape(-1)
            elif name.startswith("FC-"):
                k = int(name[3:])
                if x.ndim != 1:
                    raise ValueError("fully connected layer before FLATTEN")
                weights, bias = np.zeros((x.size, k)), np.zeros(k)
                x = x @ weights + bias
            else:
                raise ValueError("unknown layer")
            if x.size == 0:
                raise ValueError("empty output")
        except (ValueError, IndexError) as e:
            raise ParamError(f"layers[{i}]", f"{name}: {e}") from None
        arrays = [a for a in (weights, bias) if a is not None]
        rows.append((name, int(sum(a.size for a in arrays)), tuple(int(d) for d in x.shape),
                     () if weights is None else tuple(int(d) for d in weights.shape),
                     0 if bias is None else int(bias.size)))
    return tuple(rows)


def check_kind(params: dict) -> dict:
    """The kind's answers from :func:`_simulate`."""
    rows = _simulate(params["input"], params["layers"])
    return {"rows": [{k: r[k] for k in ("layer", "params", "shape")} for r in rows]}


register_kind("cnn-shapes", solve_kind, check_kind)

# ---------------------------------------------------------------------------------------------
# Part (b): which base image is a shifted image a copy of?

_ORIENTATIONS = ("horizontal", "vertical")
_FORMS = ("full", "product", "value")
"""How a given cell is printed: product and value (the default), the product alone (3x3x10x10+10,
the value left to find), or the bare value (490, which does not give away the shape before it)."""


def _pixels(value, what: str, shape: tuple[int, int] | None = None) -> list[str]:
    """An H x W image as a list of H strings of W characters '0' and '1'."""
    if (not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value)
            or any(len(r) != len(value[0]) or set(r) - {"0", "1"} for r in value)):
        raise Reject(f"{what}: expected an image as rows of 0 and 1, all of the same length")
    if shape is not None and (len(value), len(value[0])) != shape:
        raise Reject(f"{what}: expected a {shape[0]}x{shape[1]} image, got {len(value)}x{len(value[0])}")
    return value


def _which_shift(img: list[str], hor: list[str], ver: list[str]) -> tuple[str, int]:
    """(orientation, s): ``img`` is ``hor`` moved down by s rows or ``ver`` moved right by s columns."""
    if all(len(set(r)) == 1 for r in img):  # rows constant: horizontal stripes
        orient, pattern, base = "horizontal", "".join(r[0] for r in img), "".join(r[0] for r in hor)
    elif all(len({r[j] for r in img}) == 1 for j in range(len(img[0]))):  # columns constant
        orient, pattern, base = "vertical", img[0], ver[0]
    else:
        raise Reject("an asked image is neither horizontal nor vertical stripes")
    for s in range(1, len(pattern)):
        if base[-s:] + base[:-s] == pattern:  # rotation of the stripe pattern by s
            return orient, s
    raise Reject(f"an asked image is not a nonzero circular shift of the {orient}-edge image")


# A fixed two-layer network for the check: edge detectors, then a channel mix (3x3, wrap-around).
_SOBEL = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float)
_LAYER1 = np.stack([_SOBEL, _SOBEL.T, -_SOBEL])[:, None]  # (out=3, in=1, 3, 3)
_LAYER2 = np.zeros((3, 3, 3, 3))
_LAYER2[:, :, 1, 1] = [[1, 0, 0.5], [0, 1, 0.5], [0.5, 0.5, 1]]
_LAYER2[0, 0, 0, 1] = _LAYER2[1, 1, 1, 0] = 0.25  # some spatial spread


def _circular_net(img: np.ndarray) -> np.ndarray:
    """Circularly padded 3x3 convolutions (np.roll), ReLU, then global average pooling."""
    x = img[None].astype(float)
    for weights in (_LAYER1, _LAYER2):
        y = np.zeros((weights.shape[0],) + x.shape[1:])
        for o, i, di, dj in itertools.product(*(range(d) for d in weights.shape)):
            # out[r, c] += w[di, dj] * x[(r + di - 1) mod n, (c + dj - 1) mod n]
            y[o] += weights[o, i, di, dj] * np.roll(x[i], shift=(1 - di, 1 - dj), axis=(0, 1))
        x = np.maximum(y, 0.0)
    return x.mean(axis=(1, 2))


@functools.lru_cache(maxsize=4096)
def _features(network, pixels: bytes, shape: tuple[int, int], net: tuple | None) -> np.ndarray:
    """``network``'s output for an image (its bytes and shape), with the stated ``net`` when given.
    Versions of a build show the same images over and over, so outputs are remembered (a pure
    function of its arguments)."""
    img = np.frombuffer(pixels, dtype=np.int64).reshape(shape)
    out = network(img, dict(net)) if net else network(img)
    out.flags.writeable = False  # shared between calls
    return out


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def _stated_net(img: np.ndarray, net: dict) -> np.ndarray:
    """The network part (b) states, with fixed random weights: ``convs`` circular convolutions of
    ``filters`` k x k filters (stride 1; the padding wraps (k-1)//2 rows and columns in before and
    the rest after, so the size is kept), each with a bias and a ReLU, global average pooling, FC."""
    rng = np.random.default_rng(182)
    k, f = net["kernel"], net["filters"]
    before, after = (k - 1) // 2, k - 1 - (k - 1) // 2
    x = img[None].astype(float)
    for _ in range(net["convs"]):
        weights, bias = rng.normal(size=(f, x.shape[0], k, k)), rng.normal(size=f)
        wrapped = np.pad(x, ((0, 0), (before, after), (before, after)), mode="wrap")
        # windows[i, r, c, di, dj] = x[i, (r + di - before) mod H, (c + dj - before) mod W]
        windows = sliding_window_view(wrapped, (k, k), axis=(1, 2))
        x = np.maximum(np.einsum("oiab,ihwab->ohw", weights, windows) + bias[:, None, None], 0.0)
    pooled = x.mean(axis=(1, 2))
    return rng.normal(size=(net["outputs"], f)) @ pooled + rng.normal(size=net["outputs"])


# ---------------------------------------------------------------------------------------------
# The problem.


class CnnSpace(Space):
    """Choices for the layer table (a) and the translation-invariance images (b)."""

    input_sizes: list[int] = [16, 20, 24, 28, 32]
    """Input heights and widths to draw from."""
    square_prob: float = 0.6
    """Probability that the input is square."""
    channels: list[int] = [1, 3]
    blocks: list[int] = [2]
    """Number of CONV + POOL blocks before FLATTEN and FC."""
    kernels: list[int] = [3, 5]
    filters: list[int] = [4, 6, 8, 10, 12, 16]
    pools: list[int] = [2]
    classes: tuple[int, int] = (2, 10)
    min_final_size: int = 2
    """The spatial size before FLATTEN is at least this."""
    max_flatten: int = 1000
    max_params: int = 10000
    """No layer has more parameters than this (the products stay hand-computable)."""
    n_given: int = 3
    """Table cells printed pre-filled in the exam."""
    image_sizes: tuple[int, int] = (6, 10)
    n_features: int = 3
    feature_tenths: tuple[int, int] = (0, 20)
    """Feature values are drawn as tenths in this range (0 to 2.0)."""
    min_feature_gap: int = 5
    """The two base feature vectors differ by at least this many tenths in some entry."""
    asked_counts: list[int] = [2, 3]
    net_kernels: list[int] = [2, 3]
    """Kernel sizes of part (b)'s convolutions (stated in the question, with stride 1)."""
    net_filters: list[int] = [3, 4]

    @model_validator(mode="after")
    def _sane(self):
        """Refuse spaces the draw cannot sample from, instead of failing deep inside it."""
        lists = ("input_sizes", "channels", "blocks", "kernels", "filters", "pools", "asked_counts")
        if any(not getattr(self, f) or min(getattr(self, f)) < 1 for f in lists):
            raise ValueError(f"{', '.join(lists)} must be non-empty lists of positive integers")
        if min(self.asked_counts) < 2 or max(self.asked_counts) > 4:
            raise ValueError("asked_counts must lie in 2..4 (one image of each orientation at least)")
        if not 4 <= self.image_sizes[0] <= self.image_sizes[1] <= 12:
            raise ValueError("image_sizes must satisfy 4 <= low <= high <= 12")
        if not 1 <= self.n_given or not 1 <= self.classes[0] <= self.classes[1]:
            raise ValueError("n_given and classes must be positive, classes as [low, high]")
        if not 0 <= self.feature_tenths[0] <= self.feature_tenths[1] or self.n_features < 1:
            raise ValueError("feature_tenths must be [low, high] with 0 <= low <= high; n_features >= 1")
        return self


@register
class Cnn(Problem):
    """A layer table to fill (parameters, shapes) and features of circularly shifted images."""

    name = "cnn"
    Space = CnnSpace

    # -- drawing ------------------------------------------------------------------------------

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        pick = lambda xs: int(choice(rng, xs))
        h = pick(s.input_sizes)
        w = h if rng.random() < s.square_prob else pick(s.input_sizes)
        layers = []
        for _ in range(pick(s.blocks)):
            layers += [f"CONV{pick(s.kernels)}-{pick(s.filters)}", f"POOL{pick(s.pools)}"]
        layers += ["FLATTEN", f"FC-{int(rng.integers(s.classes[0], s.classes[1] + 1))}"]
        # Pre-filled cells, in distinct rows: first a parameter count that shows the format, then
        # shapes or parameter counts of weighted layers (a bare 0 of a pooling layer teaches little).
        weighted = [i for i, name in enumerate(layers) if name.startswith(("CONV", "FC"))]
        given = [[pick(weighted), "params"]]
        # (The last shape is the number of classes, which the statement already says.)
        cells = [[i, "shape"] for i in range(len(layers) - 1)] + [[i, "params"] for i in weighted]
        for k in rng.permutation(len(cells)).tolist():
            if len(given) < s.n_given and cells[k][0] not in {g[0] for g in given}:
                given.append(cells[k])
        given.sort()
        # A given FLATTEN shape shows the last POOL's shape in its product, a given FC parameter
        # count (F + 1) x classes the flatten size F: each would give away a cell to be computed.
        if any(layers[i] == "FLATTEN" and what == "shape" or layers[i].startswith("FC") and what == "params"
               for i, what in given):
            raise Reject("a given cell gives away another cell of the table")

        n = int(rng.integers(s.image_sizes[0], s.image_sizes[1] + 1))
        edge = lambda: (int(rng.integers(2, n - 1)), bool(rng.integers(2)))  # edge index, dark first?
        p, top = edge()
        hor = ["1" * n if (r < p) == top else "0" * n for r in range(n)]
        q, left = edge()
        ver_row = "".join("1" if (j < q) == left else "0" for j in range(n))
        ver = [ver_row] * n
        tenths = lambda: [tidy(int(t) / 10) for t in rng.integers(s.feature_tenths[0], s.feature_tenths[1] + 1,
                                                                  size=s.n_features)]
        m = pick(s.asked_counts)
        orients = ["horizontal", "vertical"] + [_ORIENTATIONS[rng.integers(2)] for _ in range(m - 2)]
        orients = [orients[i] for i in rng.permutation(m)]
        shifts = {o: (rng.permutation(n - 1) + 1).tolist() for o in _ORIENTATIONS}  # distinct per orientation
        asked = []
        for o in orients:
            t = shifts[o].pop()
            if o == "horizontal":
                asked.append(hor[-t:] + hor[:-t])
            else:
                asked.append([ver_row[-t:] + ver_row[:-t]] * n)
        return {"input": [h, w, pick(s.channels)], "layers": layers, "given": given,
                "horizontal": {"pixels": hor, "features": tenths()},
                "vertical": {"pixels": ver, "features": tenths()},
                "asked": asked,
                "net": {"kernel": pick(s.net_kernels), "filters": pick(s.net_filters), "convs": 2,
                        "outputs": s.n_features}}

    def validate(self, params: dict) -> None:
        s = self.space
        missing = [k for k in ("input", "layers", "given", "horizontal", "vertical", "asked") if k not in params]
        missing += [f"{o}.{k}" for o in _ORIENTATIONS if isinstance(params.get(o), dict)
                    for k in ("pixels", "features") if k not in params[o]]
        missing += [o for o in _ORIENTATIONS if o in params and not isinstance(params[o], dict)]
        if missing:
            raise Reject(f"missing or malformed: {', '.join(missing)} (see generator/problems/cnn.py)")
        # (a) the table
        try:
            rows = _layer_rows(params)
        except ParamError as e:
            raise Reject(e.message) from None
        spatial = [r["shape"][:2] for r in rows if len(r["shape"]) == 3]
        if spatial and min(min(hw) for hw in spatial) < s.min_final_size:
            raise Reject("the activation shrinks below the minimum spatial size")
        for r, prev in zip(rows, [params["input"]] + [r["shape"] for r in rows]):
            if r["layer"].startswith("CONV") and r["weights"][0] > min(prev[:2]):
                raise Reject(f"{r['layer']}: the kernel is larger than its input")
        if any(len(r["shape"]) == 1 and r["shape"][0] > s.max_flatten for r in rows):
            raise Reject("the flattened vector is too long to multiply by hand")
        if max(r["params"] for r in rows) > s.max_params:
            raise Reject("a parameter count is too large to compute by hand")
        given = params.get("given")
        if (not isinstance(given, list) or not given
                or any(not isinstance(g, list) or len(g) not in (2, 3) or g[1] not in ("params", "shape")
                       or not isinstance(g[0], int) or not 0 <= g[0] < len(rows)
                       or len(g) == 3 and g[2] not in _FORMS for g in given)):
            raise Reject("given: expected a non-empty list of [layer index, 'params' or 'shape'] "
                         f"or [layer index, 'params' or 'shape', one of {', '.join(_FORMS)}]")
        if len({tuple(g[:2]) for g in given}) != len(given) or len(given) >= 2 * len(rows):
            raise Reject("given: repeated cells, or every cell given")
        for i, field, *form in given:
            if form == ["product"] and (field != "params" or not rows[i]["weights"]):
                raise Reject(f"given [{i}, {field}, product]: only a weighted layer's parameter count is a product")
        # (b) the network and the images
        net = params.get("net")
        if net is not None and (not isinstance(net, dict) or set(net) != {"kernel", "filters", "convs", "outputs"}
                                or not all(_is_count(v) for v in net.values()) or net["kernel"] > 5 or net["convs"] > 4):
            raise Reject("net: expected {kernel: 1-5, filters, convs: 1-4, outputs}, positive integers")
        hor = _pixels(params["horizontal"]["pixels"], "horizontal")
        shape = (len(hor), len(hor[0]))
        ver = _pixels(params["vertical"]["pixels"], "vertical", shape)
        if not all(4 <= x <= 12 for x in shape):
            raise Reject("images must be 4 to 12 pixels high and wide to be drawn legibly")
        if not all(len(set(r)) == 1 for r in hor) or len(set(hor)) != 2:
            raise Reject("horizontal: every row must be one colour, with both colours present")
        if len(set(ver)) != 1 or len(set(ver[0])) != 2:
            raise Reject("vertical: every column must be one colour, with both colours present")
        feats = [params[o]["features"] for o in _ORIENTATIONS]
        for o, f in zip(_ORIENTATIONS, feats):
            if (not isinstance(f, list) or not f or len(f) != len(feats[0])
                    or any(not isinstance(x, (int, float)) or x < 0 or abs(x * 10 - round(x * 10)) > 1e-9 for x in f)):
                raise Reject(f"{o}.features: expected non-negative one-decimal numbers, as many as the other's")
        if net is not None and len(feats[0]) != net["outputs"]:
            raise Reject(f"the network has {net['outputs']} outputs but the feature vectors {len(feats[0])} entries")
        if max(abs(a - b) for a, b in zip(*feats)) < s.min_feature_gap / 10 - 1e-9:
            raise Reject("the two base feature vectors are too alike")
        asked = params["asked"]
        if not isinstance(asked, list) or not 1 <= len(asked) <= 4:
            raise Reject("asked: expected one to four images")
        for i, img in enumerate(asked):
            _which_shift(_pixels(img, f"asked[{i}]", shape), hor, ver)
        if len({tuple(img) for img in asked}) != len(asked):
            raise Reject("two asked images are the same")

    # -- answers ------------------------------------------------------------------------------

    def items(self, params: dict) -> list:
        return [("cnn-shapes", {"input": params["input"], "layers": params["layers"]})]

    def solve(self, params: dict) -> dict:
        hor, ver = params["horizontal"]["pixels"], params["vertical"]["pixels"]
        shifted = []
        for img in params["asked"]:
            orient, s = _which_shift(img, hor, ver)
            shifted.append({"of": orient, "shift": s, "features": params[orient]["features"]})
        return {"rows": _layer_rows(params), "shifted": shifted}

    def check(self, params: dict) -> dict:
        # (a) a forward pass through real numpy layers, counting weight-array sizes.
        rows = _simulate(params["input"], params["layers"])
        # (b) run a real circular-padded conv + ReLU + GAP network: a shifted image must give the
        # same features as exactly one base image; a brute-force search over all 2-D circular
        # shifts confirms it is a shifted copy and finds by how much.
        bases = {o: np.array([[int(ch) for ch in r] for r in params[o]["pixels"]]) for o in _ORIENTATIONS}
        # The network the question states when it states one (random weights), else a fixed test net.
        net = params.get("net")
        net_key = tuple(sorted(net.items())) if net else None
        network = _stated_net if net else _circular_net
        features = lambda im: _features(network, np.asarray(im, np.int64).tobytes(), im.shape, net_key)  # noqa: E731
        base_feats = {o: features(img) for o, img in bases.items()}
        shifted = []
        for k, pix in enumerate(params["asked"]):
            img = np.array([[int(ch) for ch in r] for r in pix])
            f = features(img)
            same = [o for o in _ORIENTATIONS if np.abs(f - base_feats[o]).max() <= 1e-9]  # allclose(rtol=0, atol=1e-9)
            if len(same) != 1:
                raise AssertionError(f"asked[{k}]: network features match {same or 'no'} base image")
            orient = same[0]
            height, width = img.shape
            base, moves = bases[orient], []
            if base.shape == img.shape:  # every circular shift at once: rolled[dr, dc] = np.roll(base, (dr, dc), (0, 1))
                r, c = np.arange(height), np.arange(width)
                rolled = base[(r[None, None, :, None] - r[:, None, None, None]) % height,
                              (c[None, None, None, :] - c[None, :, None, None]) % width]
                moves = [(int(dr), int(dc)) for dr, dc in np.argwhere((rolled == img).all(axis=(2, 3)))]
            amounts = {dr if orient == "horizontal" else dc for dr, dc in moves}
            if len(amounts) != 1:
                raise AssertionError(f"asked[{k}]: not a unique circular shift of the {orient} image")
            shifted.append({"of": orient, "shift": amounts.pop(), "features": params[orient]["features"]})
        return {"rows": rows, "shifted": shifted}

    def workload(self, params: dict) -> dict:
        """Rows of the table, its cells left to fill (a shape and a parameter count per row), images in (b)."""
        return {"layers": len(params["layers"]), "cells": 2 * len(params["layers"]) - len(params["given"]),
                "images": len(params["asked"])}

    def final_answers(self, answers: dict) -> dict:
        rows = answers["rows"]
        return {"a.flatten": next(r["shape"] for r in rows if r["layer"] == "FLATTEN"), "a.fc": rows[-1]["params"],
                "b": [a["features"] for a in answers["shifted"]]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        times = r"{\times}"
        cells = [f"{escape(r['layer'], what='layer name')}: {fmt_num(r['params'])} "
                 f"(${times.join(fmt_num(d) for d in r['shape'])}$)" for r in answers["rows"]]
        feats = [f"({['i', 'ii', 'iii', 'iv'][k]}) $f = {vec(a['features'])}$ (as $x_{1 if a['of'] == 'horizontal' else 2}$)"
                 for k, a in enumerate(answers["shifted"])]
        return {"a": Tex("params (shape): " + "; ".join(cells)),
                "b": Tex("; ".join(feats) + "; circular shift, same features")}

    # -- rendering ----------------------------------------------------------------------------

    def given(self, params: dict) -> dict:
        """The table's rows and its given cells, the statement's sizes and the images of (b)."""
        times = r"\times "
        # The layer table from the parameters, by the solver's own formula: the exam prints its
        # given cells and the number of classes.
        table = _layer_rows(params)
        given = {(g[0], g[1]): g[2] if len(g) == 3 else "full" for g in params["given"]}
        cells = []
        for i, (r, prev) in enumerate(zip(table, [params["input"]] + [r["shape"] for r in table])):
            product, ptex, stex = _cell_tex(r, prev)
            # What the exam prints in a given cell (the key always shows the whole working).
            shown = {"params": {"full": ptex, "product": product, "value": str(r["params"])},
                     "shape": {"full": stex, "product": None, "value": times.join(map(str, r["shape"]))}}
            cells.append({"layer": r["layer"],
                          "given_params": (i, "params") in given, "given_shape": (i, "shape") in given,
                          # a count given as a bare product still asks for its value
                          "asked_params": given.get((i, "params"), "product") == "product",
                          "exam_params": Tex(shown["params"][given.get((i, "params"), "full")] or ""),
                          "exam_shape": Tex(shown["shape"][given.get((i, "shape"), "full")] or "")})
        rows, cols = len(params["asked"][0]), len(params["asked"][0][0])
        feats = {o: Tex("(" + ",\\ ".join(fmt_num(x) for x in params[o]["features"]) + ")") for o in _ORIENTATIONS}
        even = any(r["layer"].startswith("CONV") and r["weights"][0] % 2 == 0 for r in table)
        return {"cells": cells, "even_kernel": even, "input_tex": Tex(times.join(map(str, params["input"]))),
                "n_classes": table[-1]["shape"][0], "feats": feats,
                "rows": rows, "cols": cols, "net": params.get("net"),
                "pix": {o: _tikz_image(params[o]["pixels"]) for o in _ORIENTATIONS},
                "asked_pix": [_tikz_image(p) for p in params["asked"]]}

    def key_context(self, params: dict, answers: dict) -> dict:
        """Every cell of the table worked out (``worked``, aligned with ``cells``), and each shift in words."""
        prev_shapes = [params["input"]] + [r["shape"] for r in answers["rows"]]
        worked = []
        for r, prev in zip(answers["rows"], prev_shapes):
            _, ptex, stex = _cell_tex(r, prev)
            worked.append({"params": Tex(ptex), "shape": Tex(stex)})
        rows, cols = len(params["asked"][0]), len(params["asked"][0][0])
        moves = []
        for a in answers["shifted"]:
            s = a["shift"]
            n = rows if a["of"] == "horizontal" else cols
            if a["of"] == "horizontal":
                moves.append(f"down by {s} row{'s' * (s > 1)}" if 2 * s <= n else
                             f"up by {n - s} row{'s' * (n - s > 1)}")
            else:
                moves.append(f"right by {s} column{'s' * (s > 1)}" if 2 * s <= n else
                             f"left by {n - s} column{'s' * (n - s > 1)}")
        return {"worked": worked, "moves": moves}


def _cell_tex(row: dict, prev: list) -> tuple[str | None, str, str]:
    """A table row's parameter count as a product plus biases (None without weights), that product
    with its value, and its output shape (FLATTEN's as the product of the shape before it)."""
    times = r"\times "
    product = f"{times.join(map(str, row['weights']))} + {row['bias']}" if row["weights"] else None
    ptex = f"{product} = {row['params']}" if product else "0"
    if row["layer"] == "FLATTEN":
        stex = f"{times.join(map(str, prev))} = {row['shape'][0]}"
    else:
        stex = times.join(map(str, row["shape"]))
    return product, ptex, stex


def _tikz_image(pixels: list[str], width_cm: float = 2.2) -> Tex:
    """A binary image as a TikZ pixel grid (dark = 1) of square pixels, at most ``width_cm`` across, row 0 on top."""
    return _tikz_grid(tuple(pixels), width_cm)


@functools.lru_cache(maxsize=1024)
def _tikz_grid(pixels: tuple[str, ...], width_cm: float) -> Tex:
    """:func:`_tikz_image`, remembered: the versions of a build show the same few images."""
    h, w = len(pixels), len(pixels[0])
    s = width_cm / max(h, w)
    out = [r"\begin{tikzpicture}[x=%.4fcm,y=%.4fcm,baseline=(current bounding box.center)]" % (s, s)]
    for r, row in enumerate(pixels):
        for c, ch in enumerate(row):
            if ch == "1":
                out.append(rf"\fill[black!75] ({c},{h - 1 - r}) rectangle ++(1,1);")
    lines = " ".join([rf"({i},0) -- ({i},{h})" for i in range(1, w)] + [rf"(0,{i}) -- ({w},{i})" for i in range(1, h)])
    out.append(rf"\draw[gray!60, very thin] {lines};")
    out.append(rf"\draw[thick] (0,0) rectangle ({w},{h});")
    out.append(r"\end{tikzpicture}")
    return Tex("\n".join(out))
