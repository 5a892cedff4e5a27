"""Where specs are edited and shown: language server, Jupyter display, Pygments lexer."""
