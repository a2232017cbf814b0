"""Image encoders: image(s) -> L2-normalised embedding of shape ``(batch, dim)``."""
