"""imagebatch: batch AI image generation and editing with a durable queue."""

__version__ = "0.1.0"
