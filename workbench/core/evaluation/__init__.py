"""Held-out evaluation of the base and its adapters, and looking inside an adapter."""
