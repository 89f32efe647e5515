"""Web pages served by the same app as the API."""
