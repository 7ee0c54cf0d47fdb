"""Economy mode: an economy batch's tasks run as discounted provider batch jobs."""
