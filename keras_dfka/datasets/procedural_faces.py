"""Procedurally drawn faces with CelebA-like binary attributes.

The faces are drawn with numpy only, as anti-aliased signed-distance shapes
evaluated on a pixel grid, many faces at a time. Every face is a pure function
of `(seed, index)`, so datasets are reproducible without any download.

Over 500 lines: one renderer, the drawing of each part of a face (skin,
hair, eyes, glasses, mouth, hat, make-up) and the attribute model that
decides them.
"""

import numpy as np

from keras_dfka.utils.validation import check_int

ATTRIBUTES = (
    "Smiling",
    "Mouth_Slightly_Open",
    "Eyeglasses",
    "Wearing_Hat",
    "Goatee",
    "Bangs",
    "Black_Hair",
    "Blond_Hair",
    "Pale_Skin",
    "Male",
    "Heavy_Makeup",
    "Young",
)

# Uniform draws per face after the attribute draws; each is mapped to one
# nuisance parameter (position, colours, sizes...).
_NUISANCE = (
    "cx",
    "cy",
    "scale",
    "angle",
    "width",
    "bg_r",
    "bg_g",
    "bg_b",
    "bg_grad",
    "skin_tone",
    "skin_r",
    "skin_b",
    "pale",
    "hair_shade",
    "gray",
    "hair_len",
    "bang_slant",
    "bang_phase",
    "hair_phase",
    "eye_color",
    "eye_dx",
    "eye_dy",
    "eye_size",
    "gaze",
    "brow_thick",
    "brow_arch",
    "mouth_w",
    "mouth_dy",
    "smile_c",
    "open_h",
    "shadow_color",
    "lip_color",
    "blush",
    "glass_color",
    "glass_r",
    "glass_shape",
    "glass_tint",
    "hat_r",
    "hat_g",
    "hat_b",
    "hat_h",
    "brim_w",
    "beard_size",
    "cloth_r",
    "cloth_g",
    "cloth_b",
    "wrinkle",
    "bright",
    "contrast",
    "noise",
)
_NUM_UNIFORMS = len(ATTRIBUTES) + len(_NUISANCE)
_CHUNK = 64

_EYE_COLORS = np.array(
    [[0.33, 0.2, 0.1], [0.18, 0.11, 0.06], [0.3, 0.45, 0.65], [0.32, 0.45, 0.3]],
    dtype="float32",
)
_SHADOW_COLORS = np.array(
    [[0.5, 0.25, 0.55], [0.3, 0.4, 0.72], [0.45, 0.28, 0.2], [0.85, 0.45, 0.6]],
    dtype="float32",
)
_FRAME_COLORS = np.array(
    [[0.05, 0.05, 0.05], [0.3, 0.17, 0.08], [0.55, 0.55, 0.58], [0.1, 0.1, 0.25]],
    dtype="float32",
)


def _attributes_from_uniforms(u):
    """Maps `(n, 12)` uniforms to `(n, 12)` correlated boolean attributes."""
    male = u[:, 9] < 0.45
    young = u[:, 11] < 0.6
    smiling = u[:, 0] < 0.48
    mouth_open = u[:, 1] < np.where(smiling, 0.7, 0.18)
    eyeglasses = u[:, 2] < np.where(young, 0.14, 0.36)
    hat = u[:, 3] < 0.2
    goatee = u[:, 4] < np.where(male, np.where(young, 0.35, 0.6), 0.02)
    makeup = u[:, 10] < np.where(male, 0.03, np.where(young, 0.8, 0.5))
    p_black = 0.3
    p_blond = np.where(male, 0.12, 0.35) + np.where(young, 0.05, -0.05)
    black = u[:, 6] < p_black
    blond = (u[:, 6] >= p_black) & (u[:, 6] < p_black + p_blond)
    bangs = u[:, 5] < np.where(male, 0.12, 0.4)
    pale = u[:, 8] < np.where(blond, 0.45, 0.18)
    columns = {
        "Smiling": smiling,
        "Mouth_Slightly_Open": mouth_open,
        "Eyeglasses": eyeglasses,
        "Wearing_Hat": hat,
        "Goatee": goatee,
        "Bangs": bangs,
        "Black_Hair": black,
        "Blond_Hair": blond,
        "Pale_Skin": pale,
        "Male": male,
        "Heavy_Makeup": makeup,
        "Young": young,
    }
    return np.stack([columns[name] for name in ATTRIBUTES], axis=1)


# --------------------------------------------------------------------------
# Drawing. Shapes are signed distances in face-local units (the face is about
# 2 units tall, `u` to the right, `v` down; negative inside). `_cov` turns a
# distance into anti-aliased coverage in [0, 1] given the pixel size `px` in
# the same units. Each feature is drawn only on the pixel window that can hold
# it, and only for the faces that have it, which keeps drawing fast.

_F32 = np.float32


def _cov(d, px):
    return np.clip(0.5 - d / px, 0.0, 1.0)


def _ellipse(u, v, cu, cv, ru, rv):
    x = (u - cu) / ru
    y = (v - cv) / rv
    f = np.sqrt(x * x + y * y)
    grad = np.sqrt((x / ru) ** 2 + (y / rv) ** 2) / np.maximum(f, 1e-6) + 1e-6
    return (f - 1.0) / grad


def _band(u, v, curve, slope, half_thickness, u_min, u_max):
    """A thick curve `v = curve(u)` over `u_min < u < u_max`."""
    slope = np.asarray(slope, dtype=_F32)
    d = np.abs(v - curve) / np.sqrt(1.0 + slope * slope) - half_thickness
    return np.maximum(d, np.maximum(u_min - u, u - u_max))


def _color(*channels):
    """Stacks `(n, 1, 1)` channel arrays into an `(n, 1, 1, 3)` colour."""
    return np.stack(channels, axis=-1)


def _palette(colors, uniform):
    index = np.minimum((uniform * len(colors)).astype(int), len(colors) - 1)
    return colors[index.reshape(-1)].reshape(-1, 1, 1, 3)


class _Region:
    """Face-local coordinates, parameters and canvas of one pixel window."""

    def __init__(self, u, v, px, q, canvas):
        self.u, self.v, self.px, self.q, self.canvas = u, v, px, q, canvas
        self.ua = np.abs(u)  # Mirrored, for left / right symmetric features.

    def blend(self, alpha, color):
        """Paints `color` with coverage `alpha` over the window, in place."""
        delta = np.subtract(color, self.canvas, dtype=_F32)
        delta *= alpha[..., None]
        self.canvas += delta

    def hair_texture(self):
        phase = self.q["hair_phase"]
        wave = self.v - phase
        strands = 1.0 + 0.1 * np.sin(self.u * 26.0 + 6.0 * wave * wave + 6.0 * phase)
        return self.q["hair"] * strands[..., None]

    def face_distance(self):
        q, u, v = self.q, self.u, self.v
        half_w = q["width"] * (1.0 - q["taper"] * np.clip(v, 0.0, 1.0) ** 2)
        x = u / half_w
        r = np.sqrt(x * x + v * v)
        grad = np.sqrt((x / half_w) ** 2 + v * v) / np.maximum(r, 1e-6) + 1e-6
        return (r - 1.0) / grad, r


class _Scene:
    """A batch of faces being drawn: canvas, pixel grid and parameters."""

    def __init__(self, canvas, q):
        size = canvas.shape[1]
        self.canvas, self.q, self.size = canvas, q, size
        t = ((np.arange(size, dtype=_F32) + 0.5) / size * 2.0 - 1.0).astype(_F32)
        self.grid = t
        self.cos, self.sin = np.cos(q["angle"]), np.sin(q["angle"])

    def draw(self, box, fn, gate=None):
        """Calls `fn(region)` on the window holding local `box` = (u0, u1, v0, v1)."""
        q = self.q
        if gate is None:
            index = slice(None)
        else:
            index = np.flatnonzero(gate.reshape(-1))
            if index.size == 0:
                return
        cx, cy, s = q["cx"][index], q["cy"][index], q["s"][index]
        cos, sin = self.cos[index], self.sin[index]
        u0, u1, v0, v1 = box
        corners_u = np.array([u0, u1, u0, u1], dtype=_F32)
        corners_v = np.array([v0, v0, v1, v1], dtype=_F32)
        xs = cx + s * (cos * corners_u - sin * corners_v)
        ys = cy + s * (sin * corners_u + cos * corners_v)
        size = self.size
        c0 = max(int(np.floor((xs.min() + 1.0) / 2.0 * size)) - 2, 0)
        c1 = min(int(np.ceil((xs.max() + 1.0) / 2.0 * size)) + 2, size)
        r0 = max(int(np.floor((ys.min() + 1.0) / 2.0 * size)) - 2, 0)
        r1 = min(int(np.ceil((ys.max() + 1.0) / 2.0 * size)) + 2, size)
        if c0 >= c1 or r0 >= r1:
            return
        dx = self.grid[c0:c1].reshape(1, 1, -1) - cx
        dy = self.grid[r0:r1].reshape(1, -1, 1) - cy
        u = (cos * dx + sin * dy) / s
        v = (cos * dy - sin * dx) / s
        px = (2.0 / size) / s
        if gate is None:
            fn(_Region(u, v, px, q, self.canvas[:, r0:r1, c0:c1]))
        else:
            sub_q = {key: value[index] for key, value in q.items()}
            window = self.canvas[index, r0:r1, c0:c1]
            fn(_Region(u, v, px, sub_q, window))
            self.canvas[index, r0:r1, c0:c1] = window


def _face_parameters(flags, u):
    """Per-face parameters, each `(n, 1, 1)` (or `(n, 1, 1, 3)` for colours)."""
    n = flags.shape[0]

    def col(x):
        return np.asarray(x).astype(_F32).reshape(n, 1, 1)

    q = {name: col(flags[:, i]) for i, name in enumerate(ATTRIBUTES)}
    q.update({name: col(u[:, len(ATTRIBUTES) + i]) for i, name in enumerate(_NUISANCE)})
    male, young = q["Male"], q["Young"]
    q["cx"] = (q["cx"] - 0.5) * 0.14
    q["cy"] = 0.05 + (q["cy"] - 0.5) * 0.1
    q["s"] = 0.49 + q["scale"] * 0.07
    q["angle"] = (q["angle"] - 0.5) * 0.3
    q["width"] = 0.74 + 0.06 * male + (q["width"] - 0.5) * 0.08
    q["taper"] = 0.26 - 0.14 * male
    q["ex"] = 0.29 + (q["eye_dx"] - 0.5) * 0.06
    q["ey"] = -0.1 + (q["eye_dy"] - 0.5) * 0.08
    q["ry_eye"] = (0.075 + 0.02 * young) * (0.9 + 0.2 * q["eye_size"])
    q["rx_eye"] = (0.145 + 0.025 * young) * (0.9 + 0.2 * q["eye_size"])
    q["my"] = 0.55 + (q["mouth_dy"] - 0.5) * 0.08
    q["mw"] = 0.24 + 0.05 * q["Smiling"] + (q["mouth_w"] - 0.5) * 0.06
    q["old"] = (1.0 - young) * (0.6 + 0.4 * q["wrinkle"])
    q["length"] = np.where(
        male > 0, 0.15 * q["hair_len"], 0.55 + 0.45 * q["hair_len"]
    ).astype(_F32)

    gray_bg = (q["bg_r"] + q["bg_g"] + q["bg_b"]) / 3.0
    q["bg"] = _color(
        *[0.15 + 0.7 * (0.6 * q[c] + 0.4 * gray_bg) for c in ("bg_r", "bg_g", "bg_b")]
    )
    q["cloth"] = _color(
        *[0.08 + 0.72 * q[c] for c in ("cloth_r", "cloth_g", "cloth_b")]
    )
    q["hat"] = _color(*[0.1 + 0.8 * q[c] for c in ("hat_r", "hat_g", "hat_b")])

    light = np.array([0.92, 0.7, 0.56], dtype=_F32)
    dark = np.array([0.42, 0.27, 0.18], dtype=_F32)
    tone = q["skin_tone"][..., None] * 0.8
    normal_skin = light * (1.0 - tone) + dark * tone
    normal_skin = normal_skin + _color(
        (q["skin_r"] - 0.5) * 0.06,
        np.zeros_like(q["skin_r"]),
        (q["skin_b"] - 0.5) * 0.05,
    )
    jitter = q["pale"] - 0.5
    pale_skin = np.array([0.98, 0.89, 0.83], dtype=_F32) + _color(
        jitter * 0.03, jitter * 0.04, jitter * 0.05
    )
    pale_on = q["Pale_Skin"][..., None]
    skin = pale_on * pale_skin + (1.0 - pale_on) * normal_skin
    q["skin"] = skin * (1.0 + 0.03 * young[..., None])

    shade = 0.8 + 0.4 * q["hair_shade"][..., None]
    black_hair = np.array([0.08, 0.065, 0.06], dtype=_F32) * (0.6 + shade)
    blond_hair = np.array([0.9, 0.76, 0.45], dtype=_F32) * (0.85 + 0.15 * shade)
    brown_hair = np.array([0.42, 0.26, 0.14], dtype=_F32) * shade
    gray_hair = np.array([0.62, 0.61, 0.6], dtype=_F32) * (0.75 + 0.25 * shade)
    is_gray = ((1.0 - young) * (q["gray"] < 0.45))[..., None]
    other_hair = is_gray * gray_hair + (1.0 - is_gray) * brown_hair
    black_on, blond_on = q["Black_Hair"][..., None], q["Blond_Hair"][..., None]
    q["hair"] = (
        black_on * black_hair
        + blond_on * blond_hair
        + (1.0 - black_on - blond_on) * other_hair
    ).astype(_F32)

    q["eye_rgb"] = _palette(_EYE_COLORS, q["eye_color"])
    q["shadow_rgb"] = _palette(_SHADOW_COLORS, q["shadow_color"])
    q["frame_rgb"] = _palette(_FRAME_COLORS, q["glass_color"])
    dark_lens = (q["glass_tint"] < 0.15).astype(_F32)
    q["tint"] = 0.12 + 0.73 * dark_lens
    q["lens_rgb"] = _color(
        0.6 - 0.55 * dark_lens, 0.68 - 0.62 * dark_lens, 0.78 - 0.7 * dark_lens
    )
    q["red_lips"] = _color(
        0.62 + 0.15 * q["lip_color"],
        np.full_like(q["lip_color"], 0.05),
        0.1 + 0.1 * q["lip_color"],
    )
    return {key: value.astype(_F32) for key, value in q.items()}


def _draw_body(r):
    q = r.q
    body = _ellipse(r.u, r.v, 0.0, 2.05, 1.95 + 0.2 * q["Male"], 0.9)
    r.blend(_cov(body, r.px), q["cloth"])


def _draw_back_hair(r):
    q, u, v = r.q, r.u, r.v
    length, width = q["length"], q["width"]
    back = _ellipse(
        u,
        v,
        0.0,
        -0.06 + 0.45 * length,
        width * (1.08 + 0.3 * length),
        1.08 + 0.5 * length,
    )
    back = np.maximum(back, v - (-0.25 + 1.5 * length + 0.05 * np.sin(u * 9.0)))
    r.blend(_cov(back, r.px), r.hair_texture())


def _draw_neck(r):
    neck = np.maximum(r.ua - 0.34 - 0.04 * r.q["Male"], np.abs(r.v - 1.2) - 0.7)
    r.blend(_cov(neck, r.px), r.q["skin"] * 0.8)


def _draw_ears(r):
    ears = _ellipse(r.ua, r.v, r.q["width"] * 0.97, -0.02, 0.12, 0.2)
    r.blend(_cov(ears, r.px), r.q["skin"] * 0.9)


def _draw_face(r):
    face, radius = r.face_distance()
    shading = 1.06 - 0.2 * np.clip(radius, 0.0, 1.0) ** 3 - 0.04 * r.u
    r.blend(_cov(face, r.px), r.q["skin"] * shading[..., None])


def _draw_wrinkles(r):
    q, u, v, ua = r.q, r.u, r.v, r.ua
    lines = np.minimum(
        _band(u, v, -0.55 - 0.03 * (1 - (u / 0.35) ** 2), 0.0, 0.022, -0.35, 0.35),
        _band(u, v, -0.66 - 0.03 * (1 - (u / 0.3) ** 2), 0.0, 0.022, -0.3, 0.3),
    )
    my, mw = q["my"], q["mw"]
    slope = (my + 0.02 - 0.26) / (mw + 0.07 - 0.17)
    fold = _band(ua, v, 0.26 + (ua - 0.17) * slope, slope, 0.024, 0.17, mw + 0.07)
    ex, rx, ry = q["ex"], q["rx_eye"], q["ry_eye"]
    bag_u = (ua - ex) / rx
    bag_v = q["ey"] + ry + 0.05 + 0.03 * (1 - bag_u**2)
    bags = _band(ua, v, bag_v, 0.0, 0.018, ex - 0.8 * rx, ex + 0.8 * rx)
    lines = np.minimum(np.minimum(lines, fold), bags)
    r.blend(_cov(lines, r.px) * q["old"], q["skin"] * 0.68)


def _draw_makeup(r):
    q, v, ua = r.q, r.v, r.ua
    cheek = np.sqrt((ua - 0.43) ** 2 + (v - 0.25) ** 2)
    blush = np.clip(1.0 - cheek / 0.22, 0.0, 1.0) * (0.3 + 0.25 * q["blush"])
    r.blend(blush, np.array([0.92, 0.38, 0.45], dtype=_F32))
    ry = q["ry_eye"]
    lid = _ellipse(ua, v, q["ex"], q["ey"] - ry * 0.6, q["rx_eye"] * 1.2, ry + 0.07)
    r.blend(_cov(lid, r.px) * 0.8, q["shadow_rgb"])


def _draw_eyes(r):
    q, u, v, ua = r.q, r.u, r.v, r.ua
    ex, ey, ry = q["ex"], q["ey"], q["ry_eye"]
    sclera = _ellipse(ua, v, ex, ey, q["rx_eye"], ry)
    gaze = (q["gaze"] - 0.5) * 0.06
    iris_d = np.sqrt((u - np.sign(u) * ex - gaze) ** 2 + (v - ey) ** 2)
    iris = np.maximum(iris_d - ry * 1.05, sclera)
    pupil = np.maximum(iris_d - ry * 0.45, sclera)
    r.blend(_cov(sclera, r.px), np.array([0.95, 0.94, 0.91], dtype=_F32))
    r.blend(_cov(iris, r.px), q["eye_rgb"])
    r.blend(_cov(pupil, r.px), np.array([0.03, 0.02, 0.02], dtype=_F32))
    liner = 0.014 + 0.02 * q["Heavy_Makeup"] + 0.012 * (v < ey).astype(_F32)
    outline = np.abs(sclera) - liner
    r.blend(_cov(outline, r.px), np.array([0.14, 0.08, 0.06], dtype=_F32))


def _draw_brows(r):
    q, ua = r.q, r.ua
    half, centre = 0.19, q["ex"] + 0.01
    bu = (ua - centre) / half
    arch = 0.04 + 0.04 * q["brow_arch"]
    brow_v = q["ey"] - 0.21 - arch * (1.0 - bu * bu) + 0.02 * bu
    thick = (0.022 + 0.018 * q["Male"] + 0.01 * q["brow_thick"]) * (1.0 - 0.5 * bu**2)
    brow = _band(ua, r.v, brow_v, 0.0, thick, centre - half, centre + half)
    r.blend(_cov(brow, r.px) * 0.9, q["hair"] * 0.55 + 0.03)


def _draw_nose(r):
    skin = r.q["skin"]
    nostrils = _ellipse(r.ua, r.v, 0.065, 0.3, 0.04, 0.022)
    r.blend(_cov(nostrils, r.px) * 0.7, skin * 0.45)
    ridge = np.maximum(np.abs(r.u - 0.07) - 0.02, np.abs(r.v - 0.1) - 0.17)
    r.blend(_cov(ridge, r.px) * 0.35, skin * 0.7)


def _draw_goatee(r):
    q, v = r.q, r.v
    my, mw = q["my"], q["mw"]
    beard = _ellipse(r.u, v, 0.0, my + 0.2, mw * 1.1, 0.26 + 0.06 * q["beard_size"])
    face, _ = r.face_distance()
    beard = np.maximum(np.maximum(beard, face + 0.01), my - 0.13 - v)
    r.blend(_cov(beard, r.px) * 0.92, r.hair_texture() * 0.6)


def _draw_mouth(r):
    q, u, v = r.q, r.u, r.v
    smiling, mouth_open = q["Smiling"], q["Mouth_Slightly_Open"]
    my, mw = q["my"], q["mw"]
    k = np.clip(1.0 - (u / mw) ** 2, 0.0, 1.0)
    sk = np.sqrt(k)
    curve = np.where(
        smiling > 0, 0.07 + 0.04 * q["smile_c"], (q["smile_c"] - 0.5) * 0.03
    )
    mid = my + curve * k - curve * 0.5
    opening = mouth_open * (0.09 + 0.05 * q["open_h"] + 0.03 * smiling)
    top = mid - 0.012 * sk
    bottom = mid + opening * sk
    outside = np.abs(u) - mw
    lip_top = top - (0.055 - 0.02 * smiling) * sk
    lip_bottom = bottom + 0.06 * sk
    lips = np.maximum(np.maximum(lip_top - v, v - lip_bottom), outside)
    makeup = q["Heavy_Makeup"][..., None]
    natural = q["skin"] * np.array([0.85, 0.58, 0.58], dtype=_F32)
    r.blend(_cov(lips, r.px), makeup * q["red_lips"] + (1.0 - makeup) * natural)
    inside = np.maximum(np.maximum(top - v, v - bottom), outside)
    r.blend(_cov(inside, r.px), np.array([0.28, 0.06, 0.08], dtype=_F32))
    teeth = np.maximum(np.maximum(top - v, v - top - 0.045 * sk), outside + 0.03)
    teeth_on = smiling * mouth_open
    r.blend(_cov(teeth, r.px) * teeth_on, np.array([0.93, 0.9, 0.84], dtype=_F32))


def _draw_front_hair(r):
    q, u, v = r.q, r.u, r.v
    width = q["width"]
    fringe = (
        -0.42
        + (q["bang_slant"] - 0.5) * 0.3 * u
        + 0.035 * np.sin(u * 17.0 + q["bang_phase"] * 6.0)
    )
    hairline = np.where(q["Bangs"] > 0, fringe, -0.7 + 0.05 * q["Male"])
    hairline = hairline + 0.5 * (u / width) ** 2
    cap = _ellipse(u, v, 0.0, -0.06, width * 1.08, 1.08)
    front = np.maximum(cap, v - hairline)
    r.blend(_cov(front, r.px), r.hair_texture())


def _draw_glasses(r):
    q, v, ua = r.q, r.v, r.ua
    ex, ey = q["ex"], q["ey"]
    rg = np.maximum(0.19 + 0.04 * q["glass_r"], q["rx_eye"] + 0.045)
    lens_u, lens_v = ua - ex, v - ey - 0.01
    round_lens = np.sqrt(lens_u**2 + lens_v**2) - rg
    rect_lens = np.maximum(np.abs(lens_u) - rg * 1.08, np.abs(lens_v) - rg * 0.78)
    lens = np.where(q["glass_shape"] < 0.5, round_lens, rect_lens)
    r.blend(_cov(lens, r.px) * q["tint"], q["lens_rgb"])
    frame_t = 0.02 + 0.012 * q["glass_r"]
    bar_v = ey - 0.03
    bridge = _band(ua, v, bar_v, 0.0, frame_t, -1.0, ex - rg * 0.9)
    arms = _band(ua, v, bar_v, 0.0, frame_t * 0.8, ex + rg * 0.9, q["width"] * 0.99)
    frame = np.minimum(np.minimum(np.abs(lens) - frame_t, bridge), arms)
    r.blend(_cov(frame, r.px), q["frame_rgb"])


def _draw_hat(r):
    q, u, v = r.q, r.u, r.v
    brim_v, width, hat = -0.56, q["width"], q["hat"]
    crown = _ellipse(u, v, 0.0, brim_v, width * 1.14, 0.6 + 0.25 * q["hat_h"])
    crown = np.maximum(crown, v - brim_v)
    r.blend(_cov(crown, r.px), hat)
    ribbon = np.maximum(crown, brim_v - 0.11 - v)
    r.blend(_cov(ribbon, r.px), 1.0 - hat * 0.8)
    brim_u = width * 1.14 * (1.1 + 0.35 * q["brim_w"])
    brim = _ellipse(u, v, 0.0, brim_v, brim_u, 0.075)
    r.blend(_cov(brim, r.px), hat * 0.75)


def _render(flags, u, noise, image_size, out=None):
    """Renders faces.

    Args:
        flags: bool `(n, 12)` attributes in `ATTRIBUTES` order.
        u: float `(n, _NUM_UNIFORMS)` uniforms (the first 12 are unused here).
        noise: float32 `(n, s, s, 3)` uniform `[0, 1)` pixel noise.
        image_size: int, `s`.
        out: optional float32 `(n, s, s, 3)` array to draw into.

    Returns:
        float32 `(n, s, s, 3)` images in `[0, 1]` (`out` if given).
    """
    n = flags.shape[0]
    q = _face_parameters(flags, u)
    t = ((np.arange(image_size, dtype=_F32) + 0.5) / image_size * 2.0 - 1.0).astype(
        _F32
    )
    gradient = 1.0 + (q["bg_grad"] - 0.5) * 0.5 * t.reshape(1, -1, 1)
    canvas = (
        np.empty((n, image_size, image_size, 3), dtype=_F32) if out is None else out
    )
    canvas[:] = q["bg"] * gradient[..., None]

    scene = _Scene(canvas, q)
    scene.draw((-2.3, 2.3, 1.1, 3.0), _draw_body)
    scene.draw((-1.2, 1.2, -1.2, 1.35), _draw_back_hair)
    scene.draw((-0.4, 0.4, 0.45, 1.95), _draw_neck)
    scene.draw((-1.0, 1.0, -0.25, 0.2), _draw_ears, gate=q["Male"] > 0)
    scene.draw((-0.87, 0.87, -1.03, 1.03), _draw_face)
    scene.draw((-0.62, 0.62, -0.76, 0.95), _draw_wrinkles, gate=q["old"] > 0)
    scene.draw((-0.7, 0.7, -0.42, 0.5), _draw_makeup, gate=q["Heavy_Makeup"] > 0)
    scene.draw((-0.55, 0.55, -0.27, 0.07), _draw_eyes)
    scene.draw((-0.56, 0.56, -0.46, -0.18), _draw_brows)
    scene.draw((-0.15, 0.15, -0.1, 0.35), _draw_nose)
    scene.draw((-0.45, 0.45, 0.37, 1.02), _draw_goatee, gate=q["Goatee"] > 0)
    scene.draw((-0.34, 0.34, 0.38, 0.9), _draw_mouth)
    scene.draw((-0.95, 0.95, -1.2, 0.45), _draw_front_hair)
    scene.draw((-0.87, 0.87, -0.42, 0.22), _draw_glasses, gate=q["Eyeglasses"] > 0)
    scene.draw((-1.6, 1.6, -1.5, -0.45), _draw_hat, gate=q["Wearing_Hat"] > 0)

    contrast = (0.85 + 0.25 * q["contrast"])[..., None]
    bright = ((q["bright"] - 0.5) * 0.12)[..., None]
    # Zero-mean uniform noise of standard deviation `sigma`.
    sigma = (0.01 + 0.03 * q["noise"])[..., None] * np.float32(np.sqrt(12.0))
    canvas -= 0.5
    canvas *= contrast
    canvas += 0.5 + bright
    canvas += sigma * (noise - 0.5)
    return np.clip(canvas, 0.0, 1.0, out=canvas)


def _check_image_size(image_size):
    return check_int(image_size, "image_size", 8)


def _draw_uniforms_and_noise(rng, image_size):
    u = rng.random(_NUM_UNIFORMS)
    noise = rng.random((image_size, image_size, 3), dtype=np.float32)
    return u, noise


def draw_face(attributes, image_size=64, rng=None):
    """Draws one procedural face with the given attributes.

    Everything not fixed by `attributes` (position, size, colours, hair
    length, pixel noise...) is drawn from `rng`, always with the same sequence
    of draws, so two calls with equally seeded generators differ only where
    the attributes differ.

    Args:
        attributes: dict `{name: bool}` over the names in
            `ProceduralFaces.attributes`; missing names are `False`.
            `"Black_Hair"` and `"Blond_Hair"` cannot both be `True`.
        image_size: int >= 8, the image height and width.
        rng: optional `numpy.random.Generator` or int seed. Defaults to a
            fresh unseeded generator.

    Returns:
        A float32 array of shape `(image_size, image_size, 3)` in `[0, 1]`.

    Example:

    ```python
    rng = np.random.default_rng(0)
    face = keras_dfka.datasets.draw_face({"Smiling": True, "Male": True},
                                         rng=rng)
    ```
    """
    image_size = _check_image_size(image_size)
    if not isinstance(attributes, dict):
        raise ValueError(
            "`attributes` must be a dict {name: bool}. "
            f"Received: attributes={attributes!r}"
        )
    unknown = sorted(set(attributes) - set(ATTRIBUTES))
    if unknown:
        raise ValueError(
            f"`attributes` contains {unknown}, which are not procedural face "
            f"attributes; available: {list(ATTRIBUTES)}"
        )
    if attributes.get("Black_Hair") and attributes.get("Blond_Hair"):
        raise ValueError(
            "`attributes` cannot set both 'Black_Hair' and 'Blond_Hair'. "
            f"Received: attributes={attributes!r}"
        )
    if rng is None or isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    elif not isinstance(rng, np.random.Generator):
        raise ValueError(
            "`rng` must be None, an int seed or a numpy.random.Generator. "
            f"Received: rng={rng!r}"
        )
    u, noise = _draw_uniforms_and_noise(rng, image_size)
    flags = np.array([[bool(attributes.get(name, False)) for name in ATTRIBUTES]])
    return _render(flags, u[None], noise[None], image_size)[0]


class ProceduralFaces:
    """A procedurally drawn face dataset with 12 CelebA-like attributes.

    The library's embedded stand-in for CelebA: no download, deterministic
    per seed, and quick to generate (about 4 s for 6,000 faces at 64x64 on one
    CPU core). Each face carries 12 binary attributes with visible structure and
    CelebA-like correlations: "Male" raises "Goatee" and lowers
    "Heavy_Makeup", "Smiling" raises "Mouth_Slightly_Open", "Black_Hair" and
    "Blond_Hair" are exclusive, "Young" lowers "Eyeglasses" (and old faces
    have wrinkles and sometimes gray hair), "Blond_Hair" raises "Pale_Skin",
    and so on. Position, scale, rotation, colours and pixel noise are jittered
    so the attributes are not trivial to read.

    Face `i` is a pure function of `(seed, i, image_size)`: it equals
    `draw_face(labels[i], image_size, rng=np.random.default_rng((seed, i)))`,
    and does not depend on `num_images`.

    Args:
        num_images: int > 0, the number of faces.
        image_size: int >= 8, the image height and width.
        seed: int, the seed.

    Example:

    ```python
    faces = keras_dfka.datasets.ProceduralFaces(num_images=6000, seed=0)
    splits = faces.split()
    x_train, y_train = splits["train"]  # (4500, 64, 64, 3), (4500, 12)
    faces.attributes  # ["Smiling", "Mouth_Slightly_Open", ...]
    ```
    """

    def __init__(self, num_images=6000, image_size=64, seed=0):
        self.num_images = check_int(num_images, "num_images", 1)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
        self.image_size = _check_image_size(image_size)
        self.seed = int(seed)
        self._uniforms = None
        self._images = None

    @property
    def attributes(self):
        """List of the 12 attribute names, in label column order."""
        return list(ATTRIBUTES)

    def _get_uniforms(self):
        if self._uniforms is None:
            self._uniforms = np.stack(
                [
                    np.random.default_rng((self.seed, i)).random(_NUM_UNIFORMS)
                    for i in range(self.num_images)
                ]
            )
        return self._uniforms

    @property
    def labels(self):
        """float32 0 / 1 array `(num_images, 12)`; cheap, draws no image."""
        uniforms = self._get_uniforms()
        return _attributes_from_uniforms(uniforms).astype("float32")

    def positive_rates(self):
        """Returns the fraction of positive labels of each attribute.

        Returns:
            A float32 array of shape `(12,)`.

        Example:

        ```python
        rates = dict(zip(faces.attributes, faces.positive_rates()))
        ```
        """
        return self.labels.mean(axis=0)

    def load(self):
        """Draws (once, then caches) all faces.

        Returns:
            A tuple `(images, labels)`: float32 `(n, s, s, 3)` in `[0, 1]` and
            float32 0 / 1 `(n, 12)`. `images` is the cached array itself,
            marked read-only; copy it before modifying it in place.

        Example:

        ```python
        x, y = keras_dfka.datasets.ProceduralFaces(1000).load()
        ```
        """
        if self._images is None:
            size = self.image_size
            images = np.empty((self.num_images, size, size, 3), dtype="float32")
            uniforms = np.empty((self.num_images, _NUM_UNIFORMS))
            for start in range(0, self.num_images, _CHUNK):
                stop = min(start + _CHUNK, self.num_images)
                noise = np.empty((stop - start, size, size, 3), dtype="float32")
                for i in range(start, stop):
                    rng = np.random.default_rng((self.seed, i))
                    uniforms[i], noise[i - start] = _draw_uniforms_and_noise(rng, size)
                flags = _attributes_from_uniforms(uniforms[start:stop])
                _render(
                    flags, uniforms[start:stop], noise, size, out=images[start:stop]
                )
            images.flags.writeable = False
            self._uniforms = uniforms
            self._images = images
        flags = _attributes_from_uniforms(self._uniforms)
        return self._images, flags.astype("float32")

    def split(self, fractions=(0.75, 0.125, 0.125)):
        """Splits the faces, in order, into train / validation / test.

        Args:
            fractions: three non-negative floats summing to 1, the fractions
                of faces in train, validation and test.

        Returns:
            A dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}`.

        Example:

        ```python
        splits = keras_dfka.datasets.ProceduralFaces(6000).split()
        x_val, y_val = splits["validation"]  # 750 faces
        ```
        """
        fractions = tuple(fractions) if isinstance(fractions, (tuple, list)) else ()
        if (
            len(fractions) != 3
            or any(not np.isfinite(f) or f < 0 for f in fractions)
            or abs(sum(fractions) - 1.0) > 1e-6
        ):
            raise ValueError(
                "`fractions` must be three non-negative numbers summing to 1. "
                f"Received: fractions={fractions!r}"
            )
        images, labels = self.load()
        n_train = int(round(fractions[0] * self.num_images))
        n_val = int(round((fractions[0] + fractions[1]) * self.num_images)) - n_train
        bounds = (0, n_train, n_train + n_val, self.num_images)
        return {
            name: (images[bounds[i] : bounds[i + 1]], labels[bounds[i] : bounds[i + 1]])
            for i, name in enumerate(("train", "validation", "test"))
        }
