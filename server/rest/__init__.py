"""REST routes (Quart-Trio). A handler parses, asks an actor, formats the reply."""
