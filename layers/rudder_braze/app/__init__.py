"""The outside of the bridge: the webhook's HTTP contract, the container that wires everything, the CLI."""
