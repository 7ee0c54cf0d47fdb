"""The engine: submitting batches, the worker loop, limits and progress events."""
