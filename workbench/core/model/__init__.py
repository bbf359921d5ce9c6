"""The model side: loading, devices and dtypes, module tables, exact counts, PEFT configs and memory math."""
