"""The assistant's work on a conversation: turns, learning memories, summaries, the client's voice."""
