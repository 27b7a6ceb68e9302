"""The domain: plain functions over a SQLAlchemy session, free of Flask requests."""
