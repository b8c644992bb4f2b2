"""Pure rules of the domain: entities, commands, events, decisions. No I/O."""
