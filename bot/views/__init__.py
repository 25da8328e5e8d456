"""Message texts and keyboards. Pure functions of plain data; user text is always escaped."""
