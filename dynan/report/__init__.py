"""Figures and reports, made from result objects (compute modules never import pyplot).

Each analysis has a module of figure functions here (``plot_x(result, ax=None)``); the report
builder assembles them into pages.
"""
