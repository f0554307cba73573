"""Exact arithmetic core: program IR, whitelisting expression parser, executor, quantity linking,
the candidate search, LaTeX and MATH programs with the gold-free MATH structure parser, and
(reference/) programs built from the datasets' worked solutions.

Pure Python over `fractions.Fraction`; sympy only for LaTeX and only under time limits.
"""
