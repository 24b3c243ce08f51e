"""The loss terms of both stages in torch, as `keras_dfka.losses` computes
them (the same clipping, means and temperature scaling)."""

import torch
import torch.nn.functional as F

EPSILON = 1e-7  # keras_dfka.losses.gan_losses.EPSILON


# ------------------------------------------------------------------ losses
def _clip(p):
    return p.clamp(EPSILON, 1.0 - EPSILON)


def _bce(t, p):
    p = _clip(p)
    return -(t * torch.log(p) + (1.0 - t) * torch.log(1.0 - p))


def check_activations(activations):
    for a in activations:
        if a not in ("sigmoid", "softmax"):
            raise ValueError(f"Unsupported activation {a!r}.")


def one_hot_loss(predictions, activations):
    total, count = 0.0, 0
    for p, activation in zip(predictions, activations):
        if activation == "sigmoid":
            t = (p >= 0.5).float().detach()
            total = total + _bce(t, p).mean(0).sum()
            count += p.shape[-1]
        else:
            t = F.one_hot(p.argmax(-1), p.shape[-1]).float()
            total = total + (-(t * torch.log(_clip(p))).sum(-1)).mean()
            count += 1
    return total / count


def activation_loss(features):
    values = [f.abs().mean() for f in features]
    return -sum(values) / len(values)


def information_entropy_loss(predictions, activations):
    total, count = 0.0, 0
    for p, activation in zip(predictions, activations):
        mean = p.mean(0)
        if activation == "sigmoid":
            total = total + _bce(mean, mean).sum()
            count += p.shape[-1]
        else:
            m = _clip(mean)
            total = total + (-(m * torch.log(m)).sum())
            count += 1
    return -(total / count)


def discrete_loss(predictions, activations):
    total, count = 0.0, 0
    for p, activation in zip(predictions, activations):
        if activation == "sigmoid":
            total = total + p.abs().mean(0).sum()
            count += p.shape[-1]
    if count == 0:
        return torch.zeros(())
    return total / count


def _norm(x):
    return torch.sqrt((x * x).sum() + 1e-12)


def batch_norm_statistics_loss(bn_inputs, bn_modules):
    if not bn_modules:
        return torch.zeros(())
    total = 0.0
    for x, bn in zip(bn_inputs, bn_modules):
        mean = x.mean(dim=(0, 2, 3))
        variance = ((x - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3))
        total = total + _norm(mean - bn.running_mean) + _norm(variance - bn.running_var)
    return total / len(bn_modules)


def total_variation_loss(images):
    dh = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean()
    dw = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean()
    return dh + dw


def _soften(p, activation, temperature):
    p = _clip(p)
    if activation == "sigmoid":
        return torch.sigmoid((torch.log(p) - torch.log(1.0 - p)) / temperature)
    return torch.softmax(torch.log(p) / temperature, dim=-1)


def soft_cross_entropy(predictions, targets, activations, temperature=1.0):
    total, count = 0.0, 0
    for p, t, activation in zip(predictions, targets, activations):
        t = t.detach()
        if temperature != 1.0:
            p = _soften(p, activation, temperature)
            t = _soften(t, activation, temperature)
        if activation == "sigmoid":
            total = total + _bce(t, p).mean(0).sum()
            count += p.shape[-1]
        else:
            log_p = torch.log(p.clamp(EPSILON, 1.0))
            total = total + (-(t * log_p).sum(-1)).mean()
            count += 1
    return total / count * (temperature**2)
