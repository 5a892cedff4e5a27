"""The language: text -> parse tree -> spec IR (grammar, parser, transformer, IR, errors, limits)."""
