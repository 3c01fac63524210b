"""Getting mapped requests to Braze: packing, sending, retry policy, ordering, dedup, queue messages."""
