"""The HTTP service: the Flask app, its blueprints and gunicorn; the only package that imports Flask."""
