"""Stage 3, read: every field crop becomes a :class:`~pipeline.read.types.Reading`."""
