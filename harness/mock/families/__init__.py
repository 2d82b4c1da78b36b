"""The served APIs, one module each."""
