"""Long work in the background: jobs of many items, kept in a store (SQLite or Redis), run by
workers in every serving process through the same operations and engine as requests, at a lower
priority than interactive ones."""
