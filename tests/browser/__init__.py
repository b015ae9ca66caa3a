"""Browser tests of the operator console: Playwright driving the system chromium."""
