"""Exact arithmetic core: program IR, whitelisting expression parser, executor, quantity linking,
and GSM8K gold programs built from the datasets' calculator annotations.

Pure Python over `fractions.Fraction`; sympy only for LaTeX and only under time limits.
"""
