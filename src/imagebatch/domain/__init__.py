"""Pure domain: values, rules and state machines. No I/O here."""
