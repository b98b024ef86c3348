"""Development and test infrastructure, kept out of the wheel that ships in the image.

``embedded``: Tansu (Kafka protocol) and a real PostgreSQL as local processes, for tests and
``make run``. ``run``: the whole pipeline on them (``python -m devstack``). Both need the
development dependency group; nothing in ``shared`` or ``services`` may import this package.
"""
