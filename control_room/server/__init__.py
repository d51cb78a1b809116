"""The agent-facing doors over the engine: REST under /api and MCP at /mcp (and over stdio)."""
