"""What a RudderStack sender sends: bodies, events, their validation and the sender's options."""
