"""Dossier's memory for other tools: an MCP server over one client project's memory."""
