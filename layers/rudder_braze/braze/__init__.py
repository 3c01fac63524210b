"""Braze's REST API as the bridge uses it: the request model and the client."""
