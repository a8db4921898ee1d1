"""The user's history from other assistants (ChatGPT and Claude data exports) brought into projects."""
