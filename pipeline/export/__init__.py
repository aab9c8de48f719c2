"""Exports of read records into the formats FK takes electronically.

:mod:`pipeline.export.elt`: a 3059 time report as FK's ELT ``Tidredovisning`` XML.
"""
