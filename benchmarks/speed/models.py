"""The models a speed spec describes: untrained teachers and the compiled
stage-1 (`AmalgamGAN`) or stage-2 (`DualGenerator`) trainer over them.

Imported in the worker subprocesses (and by the tests); imports Keras only
inside its functions.
"""

import math

# `spec["architecture"]` other than "small_cnn": an untrained
# keras.applications backbone (weights=None), global pooling and a sigmoid
# output, cut at its last `len(spec["widths"])` stage ends
# (`keras_dfka.propose_blocks`); the pixel range it expects.
APPLICATIONS = {
    "mobilenet_v2": ("MobileNetV2", (-1.0, 1.0)),
    "resnet50": ("ResNet50", (0.0, 255.0)),
    "efficientnet_b0": ("EfficientNetB0", (0.0, 255.0)),
}


def application_classifier(architecture, size, num_labels, name):
    """An untrained keras.applications classifier (no weights downloaded)."""
    import keras

    constructor = getattr(keras.applications, APPLICATIONS[architecture][0])
    kwargs = {"alpha": 1.0} if architecture == "mobilenet_v2" else {}
    base = constructor(
        weights=None, include_top=False, input_shape=(size, size, 3), **kwargs
    )
    inputs = keras.Input((size, size, 3), name=f"{name}_image")
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(base(inputs))
    outputs = keras.layers.Dense(num_labels, activation="sigmoid", name=f"{name}_out")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


def build_teachers(spec):
    import keras_dfka
    from keras_dfka.models.teacher_zoo import block_names
    from keras_dfka.models.teacher_zoo import small_cnn

    size = spec["image_size"]
    architecture = spec.get("architecture", "small_cnn")
    teachers = []
    for m in range(spec["num_teachers"]):
        task = keras_dfka.LabelTask(
            f"attributes_{m}",
            [f"t{m}_label{j}" for j in range(spec["labels_per_teacher"])],
            "sigmoid",
        )
        if architecture == "small_cnn":
            model = small_cnn(
                (size, size, 3),
                [task],
                widths=tuple(spec["widths"]),
                name=f"teacher_{m}",
            )
            teacher = keras_dfka.Teacher(model, block_names(model), tasks=[task])
        else:
            model = application_classifier(
                architecture, size, task.num_labels, f"teacher_{m}"
            )
            blocks = keras_dfka.propose_blocks(model, num_blocks=len(spec["widths"]))
            teacher = keras_dfka.Teacher(
                model,
                blocks,
                tasks=[task],
                input_range=APPLICATIONS[architecture][1],
            )
        teachers.append(teacher)
    return teachers


def build_trainer(spec):
    """The compiled AmalgamGAN (stage 1) or DualGenerator (stage 2) of a spec."""
    import keras

    import keras_dfka

    keras.utils.set_random_seed(0)
    if spec.get("dtype_policy"):
        keras.config.set_dtype_policy(spec["dtype_policy"])
    teachers = build_teachers(spec)
    jit = {"on": True, "off": False, "auto": "auto"}[spec["jit"]]
    gan = keras_dfka.AmalgamGAN(
        teachers,
        latent_dim=spec["latent_dim"],
        loss_weights=spec["loss_weights"],
        augment=spec.get("augment"),
    )
    if spec["stage"] == 1:
        gan.compile(jit_compile=jit)
        return gan
    targets = [
        f"t{m}_label{j}"
        for m in range(spec["num_teachers"])
        for j in range(spec["target_labels_per_teacher"])
    ]
    dual = keras_dfka.DualGenerator(gan, target_labels=targets)
    dual.compile(jit_compile=jit)
    return dual


def parameter_count(variables):
    return int(sum(math.prod(v.shape) for v in variables))
