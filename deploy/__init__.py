"""Local infrastructure the project owns: a Kafka broker, a mail sink, a throwaway PostgreSQL."""
