"""HTTP routes of the streaming API, the relay that writes a reply to a client, and its wire protocol."""
