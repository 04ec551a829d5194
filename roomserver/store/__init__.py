"""All SQL: the schema, the database functions, and the code that talks to PostgreSQL."""
