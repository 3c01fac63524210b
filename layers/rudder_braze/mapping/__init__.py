"""RudderStack events mapped to the Braze requests RudderStack's cloud-mode Braze destination makes."""
