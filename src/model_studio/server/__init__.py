"""The Jupyter Server front door: REST routes from ``model_studio.api.OPERATIONS`` and an event stream.

Importing this package imports nothing from Jupyter; ``model_studio.server.app`` does.
"""
