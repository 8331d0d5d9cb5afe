"""Graphic cards: templates, text fitting, WCAG contrast and deterministic PNG rendering."""
