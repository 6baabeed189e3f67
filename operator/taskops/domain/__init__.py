"""Pure domain logic: models, names, status computation. No I/O, no clients, no clock reads."""
