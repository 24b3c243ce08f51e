"""Trainers: `keras.Model` subclasses trained with `fit()`. `AmalgamGAN`
(stage 1), `DualGenerator` (stage 2) and `AdversarialAmalgamation` (both in
turns, the default schedule); their shared `compile()` and backend plumbing
are in `keras_dfka.backend`. Beside them: `compile_utils` (optimizers),
`loss_weights` and `teacher_checks` (of `AmalgamGAN`), `student_branches`
(the student of `DualGenerator`) and `latent_selection` (balanced and hard
latent vectors)."""
