"""Account services: users, sessions and tokens; the provider keys users bring."""
