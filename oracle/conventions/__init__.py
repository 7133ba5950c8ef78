"""Calling conventions, one module each, every one a few adapters to the vjp/jvp protocol of oracle.plugin."""
