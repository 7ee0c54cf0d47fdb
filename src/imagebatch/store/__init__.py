"""The only place that speaks SQL. Repositories take and return domain values."""
