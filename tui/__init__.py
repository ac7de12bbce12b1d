"""mtd's operations console (Textual) and its headless mode."""
