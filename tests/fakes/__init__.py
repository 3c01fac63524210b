"""In-memory stand-ins for the use cases' ports, shared by the unit tests."""
