"""The worker: claims tasks under leases, calls providers, records how each attempt ended."""
