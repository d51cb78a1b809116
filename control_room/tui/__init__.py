"""The Control Room screen: a Textual app over the registry and the engine."""
