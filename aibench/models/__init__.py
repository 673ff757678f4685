"""Model backends: each module is one backend plus its config schema (``@register("model", name, Schema)``)."""
