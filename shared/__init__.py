"""What two or more services really share: events, topics, settings, logging, Kafka and SQL plumbing."""
