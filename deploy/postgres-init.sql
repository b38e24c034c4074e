-- One database per service: each service owns its tables (and its migrations).
CREATE DATABASE intake;
CREATE DATABASE notifier;
CREATE DATABASE casework;
CREATE DATABASE meeting_scheduler;
