"""Procedurally drawn faces with CelebA-like binary attributes.

The faces are drawn with numpy only, as anti-aliased signed-distance shapes
evaluated on a pixel grid, many faces at a time. Every face is a pure function
of `(seed, index)`, so datasets are reproducible without any download.
"""

import numpy as np

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
_CHUNK = 128

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
# Signed-distance helpers. Distances are in face-local units (the face is 2
# units tall); negative inside. `_cov` turns a distance into anti-aliased
# coverage in [0, 1] given the pixel size `px` in the same units.


def _cov(d, px):
    return np.clip(0.5 - d / px, 0.0, 1.0)


def _ellipse(u, v, cu, cv, ru, rv):
    x = (u - cu) / ru
    y = (v - cv) / rv
    f = np.sqrt(x * x + y * y)
    grad = np.sqrt((x / ru) ** 2 + (y / rv) ** 2) / np.maximum(f, 1e-6) + 1e-6
    return (f - 1.0) / grad


def _band(u, v, curve, slope, half_thickness, u_min, u_max):
    """A thick curve `v = curve` over `u_min < u < u_max`."""
    d = np.abs(v - curve) / np.sqrt(1.0 + slope * slope) - half_thickness
    return np.maximum(d, np.maximum(u_min - u, u - u_max))


def _blend(canvas, alpha, color):
    canvas += alpha[..., None] * (color - canvas)


def _color(*channels):
    """Stacks `(n, 1, 1)` channel arrays into an `(n, 1, 1, 3)` colour."""
    return np.stack(channels, axis=-1)


def _render(flags, u, noise, image_size):
    """Renders faces.

    Args:
        flags: bool `(n, 12)` attributes in `ATTRIBUTES` order.
        u: float `(n, _NUM_UNIFORMS)` uniforms (the first 12 are unused here).
        noise: float32 `(n, s, s, 3)` standard normal pixel noise.
        image_size: int, `s`.

    Returns:
        float32 `(n, s, s, 3)` images in `[0, 1]`.
    """
    n = flags.shape[0]
    f32 = np.float32

    def col(a):
        return a.astype(f32).reshape(n, 1, 1)

    a = {name: col(flags[:, i]) for i, name in enumerate(ATTRIBUTES)}
    p = {
        name: col(u[:, len(ATTRIBUTES) + i]) for i, name in enumerate(_NUISANCE)
    }
    male, young = a["Male"], a["Young"]

    # Pixel grid in [-1, 1]^2 (y down), then face-local rotated, scaled coords.
    t = ((np.arange(image_size, dtype=f32) + 0.5) / image_size * 2.0 - 1.0).astype(
        f32
    )
    gx = t.reshape(1, 1, image_size)
    gy = t.reshape(1, image_size, 1)
    cx = (p["cx"] - 0.5) * 0.14
    cy = 0.03 + (p["cy"] - 0.5) * 0.1
    s = 0.47 + p["scale"] * 0.07
    angle = (p["angle"] - 0.5) * 0.3
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = gx - cx, gy - cy
    uu = (cos * dx + sin * dy) / s
    vv = (cos * dy - sin * dx) / s
    ua = np.abs(uu)  # Mirror image for left / right symmetric features.
    px = (2.0 / image_size) / s

    # ------------------------------------------------------------ colours
    gray_bg = (p["bg_r"] + p["bg_g"] + p["bg_b"]) / 3.0
    bg = _color(
        *[0.15 + 0.7 * (0.6 * p[c] + 0.4 * gray_bg) for c in ("bg_r", "bg_g", "bg_b")]
    )
    light = np.array([0.92, 0.7, 0.56], dtype=f32)
    dark = np.array([0.42, 0.27, 0.18], dtype=f32)
    tone = p["skin_tone"][..., None] * 0.8
    normal_skin = light * (1.0 - tone) + dark * tone
    normal_skin = normal_skin + _color(
        (p["skin_r"] - 0.5) * 0.06, 0.0 * p["skin_r"], (p["skin_b"] - 0.5) * 0.05
    )
    pale_skin = np.array([0.98, 0.89, 0.83], dtype=f32) + _color(
        (p["pale"] - 0.5) * 0.03, (p["pale"] - 0.5) * 0.04, (p["pale"] - 0.5) * 0.05
    )
    pale_on = a["Pale_Skin"][..., None]
    skin = pale_on * pale_skin + (1.0 - pale_on) * normal_skin
    skin = skin * (1.0 + 0.03 * young[..., None])

    shade = 0.8 + 0.4 * p["hair_shade"][..., None]
    black_hair = np.array([0.08, 0.065, 0.06], dtype=f32) * (0.6 + shade)
    blond_hair = np.array([0.9, 0.76, 0.45], dtype=f32) * (0.85 + 0.15 * shade)
    brown_hair = np.array([0.42, 0.26, 0.14], dtype=f32) * shade
    gray_hair = np.array([0.62, 0.61, 0.6], dtype=f32) * (0.75 + 0.25 * shade)
    is_gray = ((1.0 - young) * (p["gray"] < 0.45))[..., None]
    other_hair = is_gray * gray_hair + (1.0 - is_gray) * brown_hair
    black_on, blond_on = a["Black_Hair"][..., None], a["Blond_Hair"][..., None]
    hair = black_on * black_hair + blond_on * blond_hair
    hair = hair + (1.0 - black_on - blond_on) * other_hair
    strands = 1.0 + 0.1 * np.sin(
        uu * 26.0 + 5.0 * np.sin(vv * 3.0 + p["hair_phase"] * 6.0) + p["hair_phase"]
    )
    hair_tex = hair * strands[..., None]

    canvas = np.empty((n, image_size, image_size, 3), dtype=f32)
    canvas[:] = bg * (1.0 + (p["bg_grad"] - 0.5) * 0.5 * gy)[..., None]

    # ------------------------------------------------------- body and hair
    width = 0.74 + 0.06 * male + (p["width"] - 0.5) * 0.08
    cloth = _color(
        *[0.08 + 0.72 * p[c] for c in ("cloth_r", "cloth_g", "cloth_b")]
    )
    body = _ellipse(uu, vv, 0.0, 2.05, 1.95 + 0.2 * male, 0.9)
    _blend(canvas, _cov(body, px), cloth)

    length = np.where(male > 0, 0.15 * p["hair_len"], 0.55 + 0.45 * p["hair_len"])
    back = _ellipse(
        uu,
        vv,
        0.0,
        -0.06 + 0.45 * length,
        width * (1.08 + 0.3 * length),
        1.08 + 0.5 * length,
    )
    back = np.maximum(back, vv - (-0.25 + 1.5 * length + 0.05 * np.sin(uu * 9.0)))
    _blend(canvas, _cov(back, px), hair_tex)

    neck = np.maximum(ua - 0.34 - 0.04 * male, np.abs(vv - 1.2) - 0.7)
    _blend(canvas, _cov(neck, px), skin * 0.8)

    ears = _ellipse(ua, vv, width * 0.97, -0.02, 0.12, 0.2)
    _blend(canvas, _cov(ears, px) * male, skin * 0.9)

    # ---------------------------------------------------------------- face
    taper = 0.26 - 0.14 * male
    half_w = width * (1.0 - taper * np.clip(vv, 0.0, 1.0) ** 2)
    xf = uu / half_w
    rf = np.sqrt(xf * xf + vv * vv)
    grad = np.sqrt((xf / half_w) ** 2 + vv * vv) / np.maximum(rf, 1e-6) + 1e-6
    face = (rf - 1.0) / grad
    face_alpha = _cov(face, px)
    shading = (1.06 - 0.2 * np.clip(rf, 0.0, 1.0) ** 3 - 0.04 * uu)[..., None]
    _blend(canvas, face_alpha, skin * shading)

    # Age: forehead lines, nasolabial folds, under-eye bags.
    old = (1.0 - young) * (0.6 + 0.4 * p["wrinkle"])
    ex = 0.29 + (p["eye_dx"] - 0.5) * 0.06
    ey = -0.1 + (p["eye_dy"] - 0.5) * 0.08
    my = 0.55 + (p["mouth_dy"] - 0.5) * 0.08
    mw = 0.24 + 0.05 * a["Smiling"] + (p["mouth_w"] - 0.5) * 0.06
    wrinkle = skin * 0.68
    lines = np.minimum(
        _band(uu, vv, -0.55 - 0.03 * (1 - (uu / 0.35) ** 2), 0.0, 0.022, -0.35, 0.35),
        _band(uu, vv, -0.66 - 0.03 * (1 - (uu / 0.3) ** 2), 0.0, 0.022, -0.3, 0.3),
    )
    slope = (my + 0.02 - 0.26) / (mw + 0.07 - 0.17)
    fold = _band(ua, vv, 0.26 + (ua - 0.17) * slope, slope, 0.024, 0.17, mw + 0.07)
    ry_eye = (0.075 + 0.02 * young) * (0.9 + 0.2 * p["eye_size"])
    rx_eye = (0.145 + 0.025 * young) * (0.9 + 0.2 * p["eye_size"])
    bag_u = (ua - ex) / rx_eye
    bags = _band(ua, vv, ey + ry_eye + 0.05 + 0.03 * (1 - bag_u**2), 0.0, 0.018,
                 ex - 0.8 * rx_eye, ex + 0.8 * rx_eye)
    _blend(canvas, _cov(np.minimum(np.minimum(lines, fold), bags), px) * old, wrinkle)

    # Make-up: blush and eyeshadow.
    makeup = a["Heavy_Makeup"]
    cheek = np.sqrt((ua - 0.43) ** 2 + (vv - 0.25) ** 2)
    blush = np.clip(1.0 - cheek / 0.22, 0.0, 1.0) * (0.3 + 0.25 * p["blush"])
    _blend(canvas, blush * makeup, np.array([0.92, 0.38, 0.45], dtype=f32))
    sclera = _ellipse(ua, vv, ex, ey, rx_eye, ry_eye)
    lid = _ellipse(ua, vv, ex, ey - ry_eye * 0.6, rx_eye * 1.2, ry_eye + 0.07)
    shadow_color = _SHADOW_COLORS[
        np.minimum((p["shadow_color"] * 4).astype(int), 3).reshape(n)
    ].reshape(n, 1, 1, 3)
    _blend(canvas, _cov(lid, px) * makeup * 0.8, shadow_color)

    # ----------------------------------------------------------------- eyes
    gaze = (p["gaze"] - 0.5) * 0.06
    iris_d = np.sqrt((uu - np.sign(uu) * ex - gaze) ** 2 + (vv - ey) ** 2)
    iris = np.maximum(iris_d - ry_eye * 1.05, sclera)
    pupil = np.maximum(iris_d - ry_eye * 0.45, sclera)
    _blend(canvas, _cov(sclera, px), np.array([0.95, 0.94, 0.91], dtype=f32))
    eye_color = _EYE_COLORS[
        np.minimum((p["eye_color"] * 4).astype(int), 3).reshape(n)
    ].reshape(n, 1, 1, 3)
    _blend(canvas, _cov(iris, px), eye_color)
    _blend(canvas, _cov(pupil, px), np.array([0.03, 0.02, 0.02], dtype=f32))
    liner = 0.014 + 0.02 * makeup + 0.012 * (vv < ey)
    outline = np.abs(sclera) - liner
    _blend(canvas, _cov(outline, px), np.array([0.14, 0.08, 0.06], dtype=f32))

    # Eyebrows, dark versions of the hair colour.
    brow_half = 0.19
    bu = (ua - ex - 0.01) / brow_half
    arch = 0.04 + 0.04 * p["brow_arch"]
    brow_v = ey - 0.21 - arch * (1.0 - bu * bu) + 0.02 * bu
    brow_t = (0.022 + 0.018 * male + 0.01 * p["brow_thick"]) * (1.0 - 0.5 * bu * bu)
    brow = _band(ua, vv, brow_v, 0.0, brow_t, ex + 0.01 - brow_half,
                 ex + 0.01 + brow_half)
    _blend(canvas, _cov(brow, px) * 0.9, hair * 0.55 + 0.03)

    # ----------------------------------------------------------------- nose
    nostrils = _ellipse(ua, vv, 0.065, 0.3, 0.04, 0.022)
    _blend(canvas, _cov(nostrils, px) * 0.7, skin * 0.45)
    ridge = np.maximum(np.abs(uu - 0.07) - 0.02, np.abs(vv - 0.1) - 0.17)
    _blend(canvas, _cov(ridge, px) * 0.35, skin * 0.7)

    # --------------------------------------------------------------- goatee
    beard = _ellipse(uu, vv, 0.0, my + 0.2, mw * 1.1, 0.26 + 0.06 * p["beard_size"])
    beard = np.maximum(np.maximum(beard, face + 0.01), my - 0.13 - vv)
    _blend(canvas, _cov(beard, px) * a["Goatee"] * 0.92, hair_tex * 0.7)

    # ---------------------------------------------------------------- mouth
    k = np.clip(1.0 - (uu / mw) ** 2, 0.0, 1.0)
    sk = np.sqrt(k)
    curve = np.where(
        a["Smiling"] > 0, 0.07 + 0.04 * p["smile_c"], (p["smile_c"] - 0.5) * 0.03
    )
    mid = my + curve * k - curve * 0.5
    opening = a["Mouth_Slightly_Open"] * (
        0.09 + 0.05 * p["open_h"] + 0.03 * a["Smiling"]
    )
    top = mid - 0.012 * sk
    bottom = mid + opening * sk
    outside = np.abs(uu) - mw
    lip_top = top - (0.055 - 0.02 * a["Smiling"]) * sk
    lip_bottom = bottom + 0.06 * sk
    lips = np.maximum(np.maximum(lip_top - vv, vv - lip_bottom), outside)
    natural_lips = skin * np.array([0.85, 0.58, 0.58], dtype=f32)
    red_lips = _color(
        0.62 + 0.15 * p["lip_color"], 0.05 + 0.0 * p["lip_color"], 0.1 + 0.1 * p["lip_color"]
    )
    lip_color = makeup[..., None] * red_lips + (1.0 - makeup[..., None]) * natural_lips
    _blend(canvas, _cov(lips, px), lip_color)
    inside = np.maximum(np.maximum(top - vv, vv - bottom), outside)
    _blend(canvas, _cov(inside, px), np.array([0.28, 0.06, 0.08], dtype=f32))
    teeth = np.maximum(np.maximum(top - vv, vv - top - 0.045 * sk), outside + 0.03)
    teeth_on = a["Smiling"] * a["Mouth_Slightly_Open"]
    _blend(canvas, _cov(teeth, px) * teeth_on, np.array([0.93, 0.9, 0.84], dtype=f32))

    # ----------------------------------------------------------- front hair
    bangs = a["Bangs"]
    hairline = np.where(
        bangs > 0,
        -0.42 + (p["bang_slant"] - 0.5) * 0.3 * uu
        + 0.035 * np.sin(uu * 17.0 + p["bang_phase"] * 6.0),
        -0.7 + 0.05 * male,
    ) + 0.5 * (uu / width) ** 2
    cap = _ellipse(uu, vv, 0.0, -0.06, width * 1.08, 1.08)
    front = np.maximum(cap, vv - hairline)
    _blend(canvas, _cov(front, px), hair_tex)

    # ------------------------------------------------------------ eyeglasses
    glasses = a["Eyeglasses"]
    rg = np.maximum(0.19 + 0.04 * p["glass_r"], rx_eye + 0.045)
    lens_u, lens_v = ua - ex, vv - ey - 0.01
    round_lens = np.sqrt(lens_u**2 + lens_v**2) - rg
    rect_lens = np.maximum(np.abs(lens_u) - rg * 1.08, np.abs(lens_v) - rg * 0.78)
    lens = np.where(p["glass_shape"] < 0.5, round_lens, rect_lens)
    dark_lens = (p["glass_tint"] < 0.15).astype(f32)
    tint = 0.12 + 0.73 * dark_lens
    lens_color = _color(0.6 - 0.55 * dark_lens, 0.68 - 0.62 * dark_lens,
                        0.78 - 0.7 * dark_lens)
    _blend(canvas, _cov(lens, px) * glasses * tint, lens_color)
    frame_t = 0.02 + 0.012 * p["glass_r"]
    frame = np.abs(lens) - frame_t
    bar_v = ey - 0.03
    bridge = _band(ua, vv, bar_v, 0.0, frame_t, -1.0, ex - rg * 0.9)
    arms = _band(ua, vv, bar_v, 0.0, frame_t * 0.8, ex + rg * 0.9, width * 0.99)
    frame = np.minimum(np.minimum(frame, bridge), arms)
    frame_color = _FRAME_COLORS[
        np.minimum((p["glass_color"] * 4).astype(int), 3).reshape(n)
    ].reshape(n, 1, 1, 3)
    _blend(canvas, _cov(frame, px) * glasses, frame_color)

    # ------------------------------------------------------------------ hat
    hat_on = a["Wearing_Hat"]
    brim_v = -0.56
    crown = _ellipse(uu, vv, 0.0, brim_v, width * 1.14, 0.6 + 0.25 * p["hat_h"])
    crown = np.maximum(crown, vv - brim_v)
    hat_color = _color(*[0.1 + 0.8 * p[c] for c in ("hat_r", "hat_g", "hat_b")])
    _blend(canvas, _cov(crown, px) * hat_on, hat_color)
    ribbon = np.maximum(crown, brim_v - 0.11 - vv)
    _blend(canvas, _cov(ribbon, px) * hat_on, 1.0 - hat_color * 0.8)
    brim = _ellipse(
        uu, vv, 0.0, brim_v, width * 1.14 * (1.1 + 0.35 * p["brim_w"]), 0.075
    )
    _blend(canvas, _cov(brim, px) * hat_on, hat_color * 0.75)

    # ------------------------------------------- global tone and pixel noise
    contrast = (0.85 + 0.25 * p["contrast"])[..., None]
    bright = ((p["bright"] - 0.5) * 0.12)[..., None]
    sigma = (0.01 + 0.03 * p["noise"])[..., None]
    canvas = (canvas - 0.5) * contrast + 0.5 + bright + sigma * noise
    return np.clip(canvas, 0.0, 1.0).astype(f32)


def _check_image_size(image_size):
    if (
        not isinstance(image_size, (int, np.integer))
        or isinstance(image_size, bool)
        or image_size < 8
    ):
        raise ValueError(
            "`image_size` must be an integer >= 8. "
            f"Received: image_size={image_size!r}"
        )
    return int(image_size)


def _draw_uniforms_and_noise(rng, image_size):
    u = rng.random(_NUM_UNIFORMS)
    noise = rng.standard_normal((image_size, image_size, 3), dtype=np.float32)
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
    per seed, and quick to generate (about a second per few thousand faces at
    64x64). Each face carries 12 binary attributes with visible structure and
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
        if (
            not isinstance(num_images, (int, np.integer))
            or isinstance(num_images, bool)
            or num_images <= 0
        ):
            raise ValueError(
                "`num_images` must be a positive integer. "
                f"Received: num_images={num_images!r}"
            )
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
        self.num_images = int(num_images)
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
            float32 0 / 1 `(n, 12)`.

        Example:

        ```python
        x, y = keras_dfka.datasets.ProceduralFaces(1000).load()
        ```
        """
        uniforms = self._get_uniforms()
        flags = _attributes_from_uniforms(uniforms)
        if self._images is None:
            size = self.image_size
            images = np.empty((self.num_images, size, size, 3), dtype="float32")
            for start in range(0, self.num_images, _CHUNK):
                stop = min(start + _CHUNK, self.num_images)
                noise = np.stack(
                    [
                        _draw_uniforms_and_noise(
                            np.random.default_rng((self.seed, i)), size
                        )[1]
                        for i in range(start, stop)
                    ]
                )
                images[start:stop] = _render(
                    flags[start:stop], uniforms[start:stop], noise, size
                )
            self._images = images
        return self._images.copy(), flags.astype("float32")

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
