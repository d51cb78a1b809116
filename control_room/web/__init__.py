"""`control-room web`: the screen in a browser, served by textual-serve behind the token."""
