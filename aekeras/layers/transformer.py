"""The pre-norm transformer block of the ViT encoder and decoder of the masked autoencoder."""

import keras


@keras.saving.register_keras_serializable(package="aekeras")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer block: self-attention, then an MLP, each residual.

    Formula: `x += MHA(LN(x)); x += W2 gelu(W1 LN(x))` (the ViT block that
    MAE uses; Dosovitskiy et al. 2021).

    Args:
        dim: Integer, the token size; divisible by `num_heads`.
        num_heads: Integer, number of attention heads.
        mlp_ratio: Float, hidden size of the MLP as a multiple of `dim`.

    Call arguments:
        inputs: Tokens of shape `(batch, length, dim)`.
        training: Python boolean, passed to the attention layer.

    Input shape:
        3D tensor `(batch, length, dim)`.

    Output shape:
        Same as the input.

    Example:

    >>> tokens = keras.ops.ones((2, 49, 64))
    >>> tuple(TransformerBlock(64, num_heads=4)(tokens).shape)
    (2, 49, 64)
    """

    def __init__(self, dim, num_heads, mlp_ratio=4.0, **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(
                "Argument `dim` must be divisible by `num_heads`. "
                f"Received: dim={dim}, num_heads={num_heads}"
            )
        self.dim = dim
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.hidden_dim = int(dim * mlp_ratio)
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, key_dim=dim // num_heads, dtype=policy
        )
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy)
        self.mlp_hidden = keras.layers.Dense(self.hidden_dim, activation="gelu", dtype=policy)
        self.mlp_output = keras.layers.Dense(dim, dtype=policy)

    def build(self, input_shape):
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_norm.build(input_shape)
        self.mlp_hidden.build(input_shape)
        self.mlp_output.build((*input_shape[:-1], self.hidden_dim))

    def call(self, inputs, training=None):
        h = self.attention_norm(inputs)
        x = inputs + self.attention(h, h, training=training)
        return x + self.mlp_output(self.mlp_hidden(self.mlp_norm(x)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"dim": self.dim, "num_heads": self.num_heads, "mlp_ratio": self.mlp_ratio}
        return {**super().get_config(), **config}
