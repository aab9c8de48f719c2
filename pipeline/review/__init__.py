"""The operators' review UI: a FastAPI app with server-rendered pages (``blankett review``).

- :mod:`pipeline.review.auth`: passwords (scrypt), sessions (random tokens stored hashed),
  CSRF tokens;
- :mod:`pipeline.review.decide`: what an operator's decision does to a record, and the
  re-validation and routing of a document whose last open field was decided;
- :mod:`pipeline.review.text`: the UI's words, Swedish and English;
- :mod:`pipeline.review.app`: the web app (pages, forms, images), thin over those.
"""
