"""SAMIA: a small transformer reads each class's posterior, input sensitivity and label.

Each sample becomes a sequence of one token per class, ``(p_c, log(1 + s_c), [c == y])``,
where ``s_c`` is how fast ``p_c`` moves when the input is nudged (:func:`input_sensitivity`).
Self-attention lets the network compare the true class with the others, which a fixed
feature order (NN, NN_cls) has to learn class by class. Trained on the shadows' members and
non-members; the target's score is the predicted membership probability. Training stops
after ``patience`` epochs whose held-out loss is not ``min_delta`` below the best so far.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..validation import ParameterError, require_int, require_number
from .base import AttackOutput, MembershipSet
from .noise import gaussian_copies


@torch.no_grad()
def input_sensitivity(
    model: nn.Module,
    features: torch.Tensor,
    indices: np.ndarray,
    *,
    perturbations: int = 10,
    scale: float = 1e-3,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """``mean_u |softmax(f(x + scale u)) - softmax(f(x))| / scale`` per class, u ~ N(0, I).

    All perturbations of a batch go through the model in one forward pass.
    """
    model.eval()
    generator = torch.Generator(device=features.device).manual_seed(seed)
    index = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=features.device)
    chunks = []
    for batch in index.split(batch_size):
        inputs = features[batch]
        clean = torch.softmax(model(inputs), dim=1)
        nudged = gaussian_copies(inputs, perturbations, scale, generator)
        moved = torch.softmax(model(nudged), dim=1).view(perturbations, len(batch), -1)
        chunks.append(((moved - clean).abs().mean(0) / scale).cpu())
    if not chunks:
        return np.empty((0, 0), dtype=np.float32)
    return torch.cat(chunks).numpy()


def encoder_layer_forward(layer: nn.TransformerEncoderLayer, hidden: torch.Tensor) -> torch.Tensor:
    """What ``layer`` computes (post-norm, ReLU, no dropout, batch first), written out.

    ``nn.TransformerEncoderLayer``'s own training forward goes through the general
    ``multi_head_attention_forward`` (shape checks, masks, weight slicing); on the few tokens
    of an attack model that overhead is most of the step: SAMIA fits in about 0.55x the CPU
    time with this function, to float rounding the same network (docs/performance.md).
    """
    attention = layer.self_attn
    batch, tokens, width = hidden.shape
    heads = attention.num_heads
    query, key, value = (
        nn.functional.linear(hidden, attention.in_proj_weight, attention.in_proj_bias)
        .view(batch, tokens, 3, heads, width // heads)
        .permute(2, 0, 3, 1, 4)
    )
    mixed = nn.functional.scaled_dot_product_attention(query, key, value)
    mixed = attention.out_proj(mixed.transpose(1, 2).reshape(batch, tokens, width))
    hidden = layer.norm1(hidden + mixed)
    return layer.norm2(hidden + layer.linear2(torch.relu(layer.linear1(hidden))))


class _Transformer(nn.Module):
    def __init__(self, num_classes: int, width: int, heads: int, layers: int):
        super().__init__()
        self.embed = nn.Linear(3, width)
        self.position = nn.Parameter(torch.zeros(num_classes, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.embed(tokens) + self.position
        for layer in self.encoder.layers:
            hidden = encoder_layer_forward(layer, hidden)
        return self.head(hidden.mean(dim=1)).squeeze(1)


def samia_tokens(target: MembershipSet) -> torch.Tensor:
    """(n, num_classes, 3) tokens: posterior, log-scaled sensitivity, one-hot label."""
    if target.sensitivity is None:
        raise ValueError(
            "the samia attack needs the model's input sensitivity; ModelOutputs records it "
            "for every model's members and test non-members"
        )
    logits = torch.as_tensor(target.logits, dtype=torch.float32)
    num_classes = logits.shape[1]
    one_hot = nn.functional.one_hot(torch.as_tensor(target.labels), num_classes).float()
    sensitivity = torch.log1p(torch.as_tensor(target.sensitivity, dtype=torch.float32))
    return torch.stack([torch.softmax(logits, dim=1), sensitivity, one_hot], dim=2)


class SAMIA:
    name = "samia"

    def __init__(
        self,
        width: int = 32,
        heads: int = 2,
        layers: int = 1,
        epochs: int = 30,
        patience: int = 5,
        min_delta: float = 1e-3,
        batch_size: int = 256,
        seed: int = 0,
    ):
        self.width = require_int("attacks.samia.width", width, 2)
        self.heads = require_int("attacks.samia.heads", heads, 1)
        if width % heads:
            raise ParameterError(
                f"attacks.samia.width ({width}) must be divisible by attacks.samia.heads ({heads})"
            )
        self.layers = require_int("attacks.samia.layers", layers, 1)
        self.epochs = require_int("attacks.samia.epochs", epochs, 1)
        self.patience = require_int("attacks.samia.patience", patience, 1)
        self.min_delta = require_number("attacks.samia.min_delta", min_delta, 0, 1)
        self.batch_size = require_int("attacks.samia.batch_size", batch_size, 1)
        self.seed = seed
        self.network: _Transformer | None = None

    def new_network(self, num_classes: int) -> nn.Module:
        """The untrained transformer for ``num_classes`` tokens per sample."""
        return _Transformer(num_classes, self.width, self.heads, self.layers)

    def fit(self, shadows: list[MembershipSet]) -> SAMIA:
        torch.manual_seed(self.seed)
        tokens = torch.cat([samia_tokens(s) for s in shadows])
        targets = torch.as_tensor(
            np.concatenate([s.is_member for s in shadows]), dtype=torch.float32
        )
        order = torch.randperm(len(tokens))
        held_out = order[: max(1, len(order) // 10)]
        train = order[len(held_out) :]
        self.network = self.new_network(tokens.shape[1])
        optimizer = torch.optim.Adam(self.network.parameters(), lr=1e-3)
        loss_fn = nn.BCEWithLogitsLoss()
        best_loss, best_state, stale = float("inf"), None, 0
        for _ in range(self.epochs):
            self.network.train()
            for batch in train[torch.randperm(len(train))].split(self.batch_size):
                optimizer.zero_grad()
                loss_fn(self.network(tokens[batch]), targets[batch]).backward()
                optimizer.step()
            self.network.eval()
            with torch.no_grad():
                loss = loss_fn(self.network(tokens[held_out]), targets[held_out]).item()
            if loss < best_loss - self.min_delta:
                best_loss, stale = loss, 0
                best_state = {k: v.clone() for k, v in self.network.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:
            self.network.load_state_dict(best_state)
        return self

    @torch.no_grad()
    def score(self, target: MembershipSet) -> AttackOutput:
        if self.network is None:
            raise RuntimeError("fit the samia attack on shadows before scoring")
        self.network.eval()
        tokens = samia_tokens(target)
        probability = torch.cat(
            [torch.sigmoid(self.network(chunk)) for chunk in tokens.split(4096)]
        ).numpy()
        return AttackOutput(scores=probability, predicted_member=probability >= 0.5)
