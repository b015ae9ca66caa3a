"""The operator console: server-rendered pages made live with htmx (docs/console.md)."""
