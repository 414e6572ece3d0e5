"""The pages: who the person is, and the routes that build the chat page for them."""
