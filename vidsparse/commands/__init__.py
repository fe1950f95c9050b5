"""One module per CLI sub-command; each exposes ``register(subparsers)``.

A command imports its implementation inside ``run`` (the only imports inside functions the
layering check allows outside optional dependencies): building the parser does not load the
evaluation, training or generation packages, only the command that runs loads its own.
"""
