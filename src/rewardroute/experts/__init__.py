"""Expert LLMs: the models (or recorded answers) that answer queries in the generate stage."""
